//! Workloads with shared prefixes: system prompts added to a trace's requests, and sampled
//! multi-turn conversations (run closed-loop by [`reallm_sim::ConversationWorkload`]).

use super::azure::{self, Task};
use super::trace::Request;
use crate::config::schema::{ConversationsConfig, SystemPromptConfig};
use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use reallm_sim::conversation::stream_ids;
use reallm_sim::{Conversation, ConversationWorkload, Turn};

/// A seed of its own for each use of the workload seed (FNV-1a of the seed and a label).
fn sub_seed(seed: u64, label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(label.as_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Prepend one of `sp.groups` system prompts of `sp.tokens` tokens (uniform, seeded) to every
/// request without content ids, giving it content ids: the system prompt's blocks are its
/// group's, the rest its own. Requests that carry ids (Mooncake traces) are left as they are.
pub fn add_system_prompts(reqs: &mut [Request], sp: &SystemPromptConfig, seed: u64) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, "system_prompt"));
    for (i, r) in reqs.iter_mut().enumerate() {
        if r.blocks.is_some() {
            continue;
        }
        let g = rng.random_range(0..sp.groups);
        let prompt = r.prompt_tokens as u64 + sp.tokens as u64;
        if prompt > super::trace::MAX_TOKENS as u64 {
            return Err(Error::config(
                "workload.system_prompt",
                format!("request {} would have {prompt} prompt tokens: above the limit", r.id),
            ));
        }
        r.prompt_tokens = prompt as u32;
        r.blocks = Some(stream_ids(Some(g), sp.tokens, i as u32, sp.block_tokens, prompt));
    }
    Ok(())
}

/// Sample `c.count` conversations: Poisson starts at `c.rate` per second, a geometric number of
/// turns with mean `c.turns`, each turn's (user tokens, answer tokens) a row of the task's Azure
/// trace (drawn with replacement), exponential think times of mean `c.think_time_s`, and a
/// uniformly drawn system-prompt group when `sp` is set.
pub fn conversations(c: &ConversationsConfig, sp: Option<&SystemPromptConfig>, seed: u64) -> Result<ConversationWorkload> {
    let task = Task::parse(&c.task).ok_or_else(|| Error::config("workload.conversations", format!("unknown task `{}`", c.task)))?;
    let rows = azure::rows(task)?;
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, "conversations"));
    let starts = Exp::new(c.rate).map_err(|e| Error::config("workload.conversations.rate", e.to_string()))?;
    let p_end = 1.0 / c.turns;
    let mut convs = Vec::with_capacity(c.count.min(1 << 20) as usize);
    let mut t = 0.0f64;
    let mut requests = 0u64;
    for _ in 0..c.count {
        t += starts.sample(&mut rng);
        let group = sp.map(|s| rng.random_range(0..s.groups));
        let mut turns = Vec::new();
        loop {
            let row = rows[rng.random_range(0..rows.len())];
            let think = if c.think_time_s > 0.0 { -c.think_time_s * (1.0 - rng.random::<f64>()).ln() } else { 0.0 };
            turns.push(Turn { user_tokens: row.context_tokens.max(1), output_tokens: row.generated_tokens.max(1), think_s: think });
            if rng.random::<f64>() < p_end {
                break;
            }
        }
        requests += turns.len() as u64;
        if requests > super::trace::MAX_REQUESTS as u64 {
            return Err(Error::config(
                "workload.conversations",
                format!("more than {} requests: lower count or turns", super::trace::MAX_REQUESTS),
            ));
        }
        convs.push(Conversation { start_s: t, system_group: group, turns });
    }
    let system_tokens = sp.map_or(0, |s| s.tokens);
    Ok(ConversationWorkload::new(convs, system_tokens, c.block_tokens))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_sim::Workload;

    #[test]
    fn system_prompts_are_shared_within_a_group() {
        let mut reqs: Vec<Request> = (0..200).map(|i| Request::new(i, i as f64, 100, 10)).collect();
        let sp = SystemPromptConfig { groups: 3, tokens: 64, block_tokens: 16 };
        add_system_prompts(&mut reqs, &sp, 1).unwrap();
        assert!(reqs.iter().all(|r| r.prompt_tokens == 164));
        let first: Vec<u64> = reqs.iter().map(|r| r.blocks.as_ref().unwrap().ids[0]).collect();
        let mut groups = first.clone();
        groups.sort_unstable();
        groups.dedup();
        assert_eq!(groups.len(), 3, "three system prompts");
        // Blocks 0..3 (64 tokens) are the group's; block 4 on is the request's own.
        let (a, b) = (&reqs[0].blocks.as_ref().unwrap().ids, &reqs[1].blocks.as_ref().unwrap().ids);
        assert_ne!(a[4], b[4]);
        assert_eq!(a.len(), 11);
    }

    #[test]
    fn conversations_are_seeded_and_sized() {
        let c = ConversationsConfig { count: 50, rate: 2.0, turns: 3.0, think_time_s: 5.0, task: "conv".into(), block_tokens: 16 };
        let a = conversations(&c, None, 7).unwrap();
        let b = conversations(&c, None, 7).unwrap();
        assert_eq!(a.open_loop_requests(), b.open_loop_requests());
        let n = a.expected_requests().unwrap();
        // Mean 3 turns per conversation: 150 expected; well within 90..210 for 50 draws.
        assert!((90..=210).contains(&n), "{n}");
    }
}
