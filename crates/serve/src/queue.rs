//! The bounded queue of one model and its batcher: requests are cut into sequences that wait here; the model's
//! thread takes batches of them across requests (same output columns, at most `max_batch_sequences` sequences and
//! `max_batch_tokens` tokens, waiting at most `max_queue_delay` after the oldest one for more work) and hands each
//! request its rows, in its own order, once all of them are done. Work that is not an embedding (a score request)
//! waits in the same queue as a [`Task`]: the model's thread runs it alone, in arrival order with the batches.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use biotorch_models::embed::{Column, Embedding};
use biotorch_models::Esm2;
use tokio::sync::oneshot;

use crate::api::ApiError;

/// How the batcher forms batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Longest wait for more work after the oldest waiting sequence arrived.
    pub max_queue_delay: Duration,
    /// Most sequences in one batch (1 turns batching off).
    pub max_batch_sequences: usize,
    /// Token budget of one batch (sequences × padded width, specials included), as `biotorch embed --batch-tokens`.
    pub max_batch_tokens: usize,
    /// Most sequences waiting in one model's queue; a request that does not fit is refused with 429.
    pub max_queue_sequences: usize,
}

/// What a request gets back: its rows in its own order, or why it failed.
pub(crate) type Reply = Result<Vec<Embedding>, ApiError>;

/// One request in the queue: its output columns and the rows gathered so far.
pub(crate) struct Job {
    pub(crate) columns: Vec<Column>,
    state: Mutex<JobState>,
}

struct JobState {
    rows: Vec<Option<Embedding>>,
    remaining: usize,
    reply: Option<oneshot::Sender<Reply>>,
}

impl Job {
    fn state(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether nobody waits for the answer any more (failed, timed out, client gone).
    fn abandoned(&self) -> bool {
        self.state().reply.as_ref().is_none_or(|r| r.is_closed())
    }

    /// Stores row `index`; the last one sends the answer.
    pub(crate) fn fill(&self, index: usize, row: Embedding) {
        let mut state = self.state();
        if state.rows[index].replace(row).is_none() {
            state.remaining -= 1;
        }
        if state.remaining == 0 {
            if let Some(reply) = state.reply.take() {
                let rows = std::mem::take(&mut state.rows).into_iter().map(|r| r.unwrap_or_default()).collect();
                let _ = reply.send(Ok(rows));
            }
        }
    }

    /// Fails the request (once; later rows are dropped).
    pub(crate) fn fail(&self, error: ApiError) {
        if let Some(reply) = self.state().reply.take() {
            let _ = reply.send(Err(error));
        }
    }
}

/// One sequence waiting for the model.
pub(crate) struct Entry {
    pub(crate) job: Arc<Job>,
    /// Its position in its request.
    pub(crate) index: usize,
    pub(crate) tokens: Vec<i64>,
    pub(crate) enqueued: Instant,
}

/// Work for the model's thread other than embeddings (a score request): it runs alone, with the model, on the
/// model's thread; it answers its request itself (and does nothing when nobody waits any more).
pub(crate) struct Task {
    pub(crate) run: Box<dyn FnOnce(&Esm2) + Send>,
    /// How many sequences' room in the queue it takes (its inputs).
    weight: usize,
    pub(crate) enqueued: Instant,
}

/// What the model's thread does next.
pub(crate) enum Work {
    /// Sequences to embed together.
    Batch(Vec<Entry>),
    /// One task, alone.
    Task(Task),
}

struct Inner {
    entries: VecDeque<Entry>,
    tasks: VecDeque<Task>,
    /// The tasks' weights, summed.
    task_weight: usize,
    closed: bool,
}

/// A model's queue (see the module documentation).
pub(crate) struct Queue {
    inner: Mutex<Inner>,
    wake: Condvar,
    batching: Batching,
}

impl Queue {
    pub(crate) fn new(batching: Batching) -> Queue {
        let inner = Inner { entries: VecDeque::new(), tasks: VecDeque::new(), task_weight: 0, closed: false };
        Queue { inner: Mutex::new(inner), wake: Condvar::new(), batching }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a request's sequences (token ids, specials excluded) for `columns`; the receiver gets the rows.
    /// Refused with 429 (and `Retry-After`) when they do not fit in the queue, 503 once the server is stopping.
    pub(crate) fn submit(
        &self,
        columns: Vec<Column>,
        items: Vec<Vec<i64>>,
    ) -> Result<oneshot::Receiver<Reply>, ApiError> {
        let (tx, rx) = oneshot::channel();
        let n = items.len();
        let job = Arc::new(Job {
            columns,
            state: Mutex::new(JobState { rows: (0..n).map(|_| None).collect(), remaining: n, reply: Some(tx) }),
        });
        let mut inner = self.lock();
        self.room(&inner, n)?;
        let enqueued = Instant::now();
        inner.entries.extend(items.into_iter().enumerate().map(|(index, tokens)| Entry {
            job: job.clone(),
            index,
            tokens,
            enqueued,
        }));
        drop(inner);
        self.wake.notify_all();
        Ok(rx)
    }

    /// 503 once the queue is closed, 429 (with `Retry-After`) when `n` more sequences do not fit.
    fn room(&self, inner: &Inner, n: usize) -> Result<(), ApiError> {
        if inner.closed {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"));
        }
        let waiting = inner.entries.len() + inner.task_weight;
        if waiting + n > self.batching.max_queue_sequences {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                format!(
                    "the model's queue is full ({waiting} of {} sequences waiting); retry later",
                    self.batching.max_queue_sequences
                ),
            );
            error.retry_after = Some(1);
            return Err(error);
        }
        Ok(())
    }

    /// Queues a task that takes the room of `weight` sequences; refused as [`Queue::submit`] refuses.
    pub(crate) fn submit_task(&self, weight: usize, run: Box<dyn FnOnce(&Esm2) + Send>) -> Result<(), ApiError> {
        let mut inner = self.lock();
        self.room(&inner, weight)?;
        inner.tasks.push_back(Task { run, weight, enqueued: Instant::now() });
        inner.task_weight += weight;
        drop(inner);
        self.wake.notify_all();
        Ok(())
    }

    /// Stops taking requests; the batcher finishes what is queued and then [`Queue::next_work`] returns `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// The next work: a task when one arrived before the oldest waiting sequence (at once), else a batch (once
    /// it is full, the oldest sequence has waited `max_queue_delay`, or the queue is closed); blocks until there is
    /// work. `None` once the queue is closed and empty.
    pub(crate) fn next_work(&self) -> Option<Work> {
        let mut inner = self.lock();
        loop {
            inner.entries.retain(|e| !e.job.abandoned());
            let task_first = match (inner.tasks.front(), inner.entries.front()) {
                (Some(task), Some(entry)) => task.enqueued <= entry.enqueued,
                (task, _) => task.is_some(),
            };
            if task_first {
                let task = inner.tasks.pop_front()?;
                inner.task_weight -= task.weight;
                return Some(Work::Task(task));
            }
            let Some(first) = inner.entries.front() else {
                if inner.closed {
                    return None;
                }
                inner = self.wake.wait(inner).unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            };
            let deadline = first.enqueued + self.batching.max_queue_delay;
            let (count, full) = self.gather(&inner.entries);
            let now = Instant::now();
            if full || now >= deadline || inner.closed || !inner.tasks.is_empty() {
                return Some(Work::Batch(self.take(&mut inner.entries, count)));
            }
            inner = self.wake.wait_timeout(inner, deadline - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }

    /// How many entries with the oldest one's columns a batch takes (scanning in arrival order), and whether the
    /// batch is full.
    fn gather(&self, entries: &VecDeque<Entry>) -> (usize, bool) {
        let Some(first) = entries.front() else { return (0, false) };
        let (mut count, mut tokens) = (0usize, 0usize);
        for entry in entries.iter().filter(|e| e.job.columns == first.job.columns) {
            let width = entry.tokens.len() + 2;
            if count > 0 && tokens + width > self.batching.max_batch_tokens {
                return (count, true);
            }
            count += 1;
            tokens += width;
            if count >= self.batching.max_batch_sequences || tokens >= self.batching.max_batch_tokens {
                return (count, true);
            }
        }
        (count, false)
    }

    /// Removes the first `count` entries with the oldest one's columns, keeping the others in order.
    fn take(&self, entries: &mut VecDeque<Entry>, count: usize) -> Vec<Entry> {
        let Some(columns) = entries.front().map(|e| e.job.columns.clone()) else { return Vec::new() };
        let mut batch = Vec::with_capacity(count);
        let mut rest = VecDeque::with_capacity(entries.len());
        for entry in entries.drain(..) {
            if batch.len() < count && entry.job.columns == columns {
                batch.push(entry);
            } else {
                rest.push_back(entry);
            }
        }
        *entries = rest;
        batch
    }
}

#[cfg(test)]
mod tests {
    use biotorch_models::embed::Pooling;

    use super::*;

    fn batching(sequences: usize, tokens: usize, queue: usize) -> Batching {
        Batching {
            max_queue_delay: Duration::from_millis(1),
            max_batch_sequences: sequences,
            max_batch_tokens: tokens,
            max_queue_sequences: queue,
        }
    }

    /// The next batch (the tests queue no tasks unless they say so).
    fn next_batch(queue: &Queue) -> Option<Vec<Entry>> {
        match queue.next_work()? {
            Work::Batch(batch) => Some(batch),
            Work::Task(_) => panic!("a task where a batch was expected"),
        }
    }

    fn columns(layer: usize) -> Vec<Column> {
        Column::grid(&[Pooling::Mean], &[layer])
    }

    #[test]
    fn batches_span_requests_and_keep_each_requests_order() {
        let queue = Queue::new(batching(3, 1000, 100));
        let mut a = queue.submit(columns(1), vec![vec![5; 4], vec![6; 2]]).unwrap();
        let mut b = queue.submit(columns(1), vec![vec![7; 3], vec![8; 1]]).unwrap();
        let first = next_batch(&queue).unwrap();
        assert_eq!(first.iter().map(|e| e.index).collect::<Vec<_>>(), [0, 1, 0]);
        let second = next_batch(&queue).unwrap();
        assert_eq!(second.len(), 1);
        for entry in first.into_iter().chain(second) {
            let row = Embedding { vectors: vec![vec![entry.tokens[0] as f32]], truncated: false, windows: 0 };
            entry.job.fill(entry.index, row);
        }
        let rows = a.try_recv().unwrap().unwrap();
        assert_eq!(rows.iter().map(|r| r.vectors[0][0]).collect::<Vec<_>>(), [5.0, 6.0]);
        let rows = b.try_recv().unwrap().unwrap();
        assert_eq!(rows.iter().map(|r| r.vectors[0][0]).collect::<Vec<_>>(), [7.0, 8.0]);
    }

    #[test]
    fn a_batch_holds_one_set_of_columns_and_respects_the_token_budget() {
        let queue = Queue::new(batching(10, 12, 100));
        let _a = queue.submit(columns(1), vec![vec![1; 4]]).unwrap();
        let _b = queue.submit(columns(2), vec![vec![2; 4]]).unwrap();
        let _c = queue.submit(columns(1), vec![vec![3; 4], vec![4; 4]]).unwrap();
        // 6 + 6 tokens fill the budget of 12: the third sequence of layer 1 waits, the layer-2 one too.
        let batch = next_batch(&queue).unwrap();
        assert_eq!(batch.iter().map(|e| e.tokens[0]).collect::<Vec<_>>(), [1, 3]);
        let batch = next_batch(&queue).unwrap();
        assert_eq!(batch.iter().map(|e| e.tokens[0]).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_full_queue_refuses_with_429_and_accepts_again_once_drained() {
        let queue = Queue::new(batching(8, 1000, 3));
        let _a = queue.submit(columns(1), vec![vec![1; 2]; 2]).unwrap();
        let error = queue.submit(columns(1), vec![vec![1; 2]; 2]).unwrap_err();
        assert_eq!((error.status, error.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(1)));
        assert_eq!(next_batch(&queue).unwrap().len(), 2);
        assert!(queue.submit(columns(1), vec![vec![1; 2]; 3]).is_ok());
    }

    #[test]
    fn abandoned_requests_are_dropped_and_a_closed_queue_ends() {
        let queue = Queue::new(batching(8, 1000, 10));
        drop(queue.submit(columns(1), vec![vec![1; 2]]).unwrap());
        queue.close();
        assert!(next_batch(&queue).is_none());
        assert_eq!(queue.submit(columns(1), vec![vec![1; 2]]).unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn tasks_run_in_arrival_order_with_the_batches_and_take_room_in_the_queue() {
        let queue = Queue::new(batching(8, 1000, 5));
        queue.submit_task(3, Box::new(|_| {})).unwrap();
        let _a = queue.submit(columns(1), vec![vec![1; 2]]).unwrap();
        // 3 + 1 waiting: 2 more do not fit.
        let error = queue.submit(columns(1), vec![vec![1; 2]; 2]).unwrap_err();
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(matches!(queue.next_work(), Some(Work::Task(t)) if t.weight == 3));
        let _b = queue.submit(columns(1), vec![vec![2; 2]; 2]).unwrap();
        queue.submit_task(1, Box::new(|_| {})).unwrap();
        assert_eq!(next_batch(&queue).unwrap().len(), 3);
        assert!(matches!(queue.next_work(), Some(Work::Task(_))));
        queue.close();
        assert!(queue.next_work().is_none());
        assert_eq!(queue.submit_task(1, Box::new(|_| {})).unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
