//! Multi-turn conversations as a closed-loop [`Workload`]: a conversation's next turn arrives
//! a think time after its previous turn's last token, and its prompt repeats everything said
//! so far.
//!
//! Turn `t` of a conversation (1-based) has prompt
//! `S + Σ_{i<t} (U_i + O_i) + U_t` tokens (`S`: its system prompt, if any; `U_i`: the user's
//! new tokens of turn i; `O_i`: the answer of turn i) and asks for `O_t` tokens. The
//! conversation is one growing token stream `system, U_1, O_1, U_2, O_2, …`, so every turn's
//! content ids ([`BlockIds`], `block_tokens` per id) are a prefix of the next turn's: a block
//! wholly inside the system prompt has the id of its system-prompt group (shared by every
//! conversation of the group), any other block an id of its conversation. The ids cover
//! prompt and answer, so an engine that caches generated blocks (vLLM does) finds the previous
//! answer in the next turn's prompt.

use crate::request::{BlockIds, Request, RequestRecord};
use crate::workload::Workload;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One turn: the user's new tokens, the answer's length, and the think time before it (after
/// the previous turn's last token; ignored for the first turn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    pub user_tokens: u32,
    pub output_tokens: u32,
    pub think_s: f64,
}

/// One conversation: when its first turn arrives, its system-prompt group, and its turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub start_s: f64,
    /// System-prompt group (`None`: no system prompt).
    pub system_group: Option<u32>,
    pub turns: Vec<Turn>,
}

/// The content id of block `j` of system-prompt group `g`.
pub fn system_block_id(g: u32, j: u64) -> u64 {
    (1 << 63) | ((g as u64) << 32) | (j & 0xFFFF_FFFF)
}

/// The content id of block `j` of conversation `c` (outside its system prompt).
pub fn conversation_block_id(c: u32, j: u64) -> u64 {
    ((c as u64 + 1) << 32) | (j & 0xFFFF_FFFF)
}

/// Content ids of the first `tokens` tokens of a stream whose first `system_tokens` tokens
/// are group `group`'s system prompt and the rest belong to `owner` (a conversation, or a
/// request of an open-loop trace).
pub fn stream_ids(group: Option<u32>, system_tokens: u32, owner: u32, block_tokens: u32, tokens: u64) -> BlockIds {
    let h = block_tokens.max(1) as u64;
    let s = if group.is_some() { system_tokens as u64 } else { 0 };
    let ids: Vec<u64> = (0..tokens.div_ceil(h))
        .map(|j| match group {
            Some(g) if (j + 1) * h <= s => system_block_id(g, j),
            _ => conversation_block_id(owner, j),
        })
        .collect();
    BlockIds::new(block_tokens.max(1), tokens.min(u32::MAX as u64) as u32, ids)
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    next_turn: u32,
    /// Tokens of the stream so far (system prompt and finished turns).
    history: u64,
}

/// Closed-loop replay of conversations.
#[derive(Debug, Clone)]
pub struct ConversationWorkload {
    convs: Vec<Conversation>,
    state: Vec<State>,
    /// (arrival time bits, order, conversation): time-ordered, then first scheduled first.
    pending: BinaryHeap<Reverse<(u64, u64, u32)>>,
    order: u64,
    conv_of: Vec<u32>,
    system_tokens: u32,
    block_tokens: u32,
    expected: u64,
}

/// A non-negative time as sortable bits.
fn key(t: f64) -> u64 {
    t.max(0.0).to_bits()
}

impl ConversationWorkload {
    /// Conversations whose system prompts (groups) have `system_tokens` tokens, with content
    /// ids of `block_tokens` tokens.
    pub fn new(convs: Vec<Conversation>, system_tokens: u32, block_tokens: u32) -> ConversationWorkload {
        let expected = convs.iter().map(|c| c.turns.len() as u64).sum();
        let mut w = ConversationWorkload {
            state: convs
                .iter()
                .map(|c| State { next_turn: 0, history: if c.system_group.is_some() { system_tokens as u64 } else { 0 } })
                .collect(),
            convs,
            pending: BinaryHeap::new(),
            order: 0,
            conv_of: Vec::new(),
            system_tokens,
            block_tokens,
            expected,
        };
        for i in 0..w.convs.len() {
            if !w.convs[i].turns.is_empty() {
                let t = w.convs[i].start_s;
                w.schedule(t, i as u32);
            }
        }
        w
    }

    fn schedule(&mut self, t: f64, conv: u32) {
        self.pending.push(Reverse((key(t), self.order, conv)));
        self.order += 1;
    }

    /// The requests of every turn as if each answer came instantly: turn t arrives at the
    /// start plus the think times before it. For writing a trace file (an open-loop
    /// approximation of the closed loop).
    pub fn open_loop_requests(&self) -> Vec<Request> {
        let mut out = Vec::new();
        for (c, conv) in self.convs.iter().enumerate() {
            let mut t = conv.start_s;
            let mut history = if conv.system_group.is_some() { self.system_tokens as u64 } else { 0 };
            for (i, turn) in conv.turns.iter().enumerate() {
                if i > 0 {
                    t += turn.think_s;
                }
                out.push(self.request(c as u32, conv, history, turn, t, 0));
                history += turn.user_tokens as u64 + turn.output_tokens as u64;
            }
        }
        out.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
        for (i, r) in out.iter_mut().enumerate() {
            r.id = i as u64;
        }
        out
    }

    fn request(&self, c: u32, conv: &Conversation, history: u64, turn: &Turn, t: f64, id: u64) -> Request {
        let prompt = history + turn.user_tokens as u64;
        let ids = stream_ids(conv.system_group, self.system_tokens, c, self.block_tokens, prompt + turn.output_tokens as u64);
        Request {
            id,
            arrival_s: t,
            prompt_tokens: prompt.min(u32::MAX as u64) as u32,
            output_tokens: turn.output_tokens,
            blocks: Some(ids),
            session: Some(c as u64),
        }
    }
}

impl Workload for ConversationWorkload {
    fn peek_arrival_s(&self) -> Option<f64> {
        self.pending.peek().map(|Reverse((t, _, _))| f64::from_bits(*t))
    }

    fn next_request(&mut self) -> Option<Request> {
        let Reverse((t, _, c)) = self.pending.pop()?;
        let st = self.state[c as usize];
        let conv = &self.convs[c as usize];
        let turn = conv.turns[st.next_turn as usize];
        let id = self.conv_of.len() as u64;
        let r = self.request(c, conv, st.history, &turn, f64::from_bits(t), id);
        self.conv_of.push(c);
        let s = &mut self.state[c as usize];
        s.next_turn += 1;
        s.history += turn.user_tokens as u64 + turn.output_tokens as u64;
        Some(r)
    }

    fn on_complete(&mut self, rec: &RequestRecord, now_s: f64) {
        let Some(&c) = self.conv_of.get(rec.id as usize) else { return };
        let st = self.state[c as usize];
        if let Some(turn) = self.convs[c as usize].turns.get(st.next_turn as usize) {
            let t = now_s + turn.think_s;
            self.schedule(t, c);
        }
    }

    fn expected_requests(&self) -> Option<u64> {
        Some(self.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(u: u32, o: u32, think: f64) -> Turn {
        Turn { user_tokens: u, output_tokens: o, think_s: think }
    }

    #[test]
    fn turns_repeat_the_history_and_wait_for_the_answer() {
        let convs = vec![
            Conversation { start_s: 0.0, system_group: Some(3), turns: vec![turn(10, 5, 0.0), turn(7, 2, 1.5)] },
            Conversation { start_s: 0.5, system_group: Some(3), turns: vec![turn(4, 1, 0.0)] },
        ];
        let mut w = ConversationWorkload::new(convs, 32, 16);
        assert_eq!(w.expected_requests(), Some(3));
        let a = w.next_request().unwrap();
        assert_eq!((a.id, a.arrival_s, a.prompt_tokens, a.output_tokens, a.session), (0, 0.0, 42, 5, Some(0)));
        // 47 tokens of stream (42 + 5): ids for blocks 0..2; blocks 0 and 1 are the system
        // prompt's (group 3), block 2 the conversation's.
        let ids = a.blocks.as_ref().unwrap();
        assert_eq!(ids.tokens, 47);
        assert_eq!(&ids.ids[..], &[system_block_id(3, 0), system_block_id(3, 1), conversation_block_id(0, 2)]);
        // The second conversation's first turn comes next; turn 2 waits for turn 1's answer.
        assert_eq!(w.peek_arrival_s(), Some(0.5));
        let b = w.next_request().unwrap();
        assert_eq!(b.blocks.as_ref().unwrap().ids[..2], ids.ids[..2], "same system prompt group");
        assert_eq!(w.peek_arrival_s(), None);
        let rec = RequestRecord { id: 0, ..RequestRecord::default() };
        w.on_complete(&rec, 4.0);
        assert_eq!(w.peek_arrival_s(), Some(5.5));
        let c = w.next_request().unwrap();
        // 32 + 10 + 5 + 7 = 54 prompt tokens; its ids start with turn 1's.
        assert_eq!((c.prompt_tokens, c.output_tokens, c.arrival_s), (54, 2, 5.5));
        assert_eq!(c.blocks.as_ref().unwrap().ids[..3], ids.ids[..3]);
        assert!(w.next_request().is_none());
    }

    #[test]
    fn open_loop_requests_add_think_times() {
        let convs = vec![Conversation { start_s: 1.0, system_group: None, turns: vec![turn(10, 5, 9.0), turn(7, 2, 1.5)] }];
        let w = ConversationWorkload::new(convs, 0, 16);
        let r = w.open_loop_requests();
        assert_eq!(r.iter().map(|r| (r.arrival_s, r.prompt_tokens)).collect::<Vec<_>>(), vec![(1.0, 10), (2.5, 22)]);
    }
}
