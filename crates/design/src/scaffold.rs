//! Scaffold decoration with a SMILES decoder (issue 19, item 3).
//!
//! **One attachment point** (`*` or `[*:1]`): the scaffold is written as a SMILES that ends at the attachment, the
//! decoder is forced to start with it (without the dummy atom) and samples the rest, so every sample continues from
//! the attachment atom. This is plain prefix sampling ([`SamplingOptions::prefix`]), batched on the device.
//!
//! **Several attachment points**, as Langevin et al. (J. Chem. Inf. Model. 2020, "Scaffold-constrained molecular
//! generation") do it: the scaffold is written so that every attachment point is a branch `(*)` or the last atom,
//! and the decoder walks through that writing. Outside the attachment points its tokens are forced; at a branch
//! `(*)` it samples a decoration until it closes the branch with a `)` of its own (at depth 0; `<eos>` and an empty
//! branch are masked out there); at a final `*` it samples until `<eos>`. The drawn tokens' likelihood is that of
//! the masked, renormalised distribution.
//!
//! Which writing of the scaffold? Any that has that shape will do, but the decoder was trained on canonical SMILES,
//! so some writings are far more natural to it than others. [`Scaffold::new`] draws RDKit's randomized SMILES of the
//! scaffold (seeded, so the choice is fixed), keeps those of the right shape whose tokens the vocabulary has, and
//! takes the one the decoder itself finds most likely per token (with each attachment point written as a methyl for
//! that score when there are several).
//!
//! [`Containment`] then checks the valid samples for the scaffold: a substructure match of the scaffold, its dummy
//! atoms matching any atom, so every attachment point must carry something.

use biotorch_chem::{Molecule, Pattern};
use biotorch_models::sampling::{choose_tokens, uniform, SamplingOptions};
use biotorch_models::{Sample, SmilesGpt};
use biotorch_tokenizers::SmilesTokenizer;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::generator::Generator;

/// Randomized writings tried when looking for ones of the right shape.
const TRIES: u64 = 4096;
/// Candidate writings scored by the decoder.
const CANDIDATES: usize = 64;

/// A piece of the writing the decoder walks through (several attachment points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// A forced token.
    Token(i64),
    /// A decoration inside a branch: sampled until the decoder closes the branch.
    Branch,
    /// The last atom: sampled until `<eos>`.
    Tail,
}

/// A scaffold ready to decorate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaffold {
    /// The scaffold as RDKit writes it canonically (isomeric), attachment points included.
    pub canonical: String,
    /// How many attachment points it has.
    pub points: usize,
    /// The writing the decoder follows. One attachment point: the writing ending at the attachment atom, the dummy
    /// removed (sampling continues from it). Several: the writing with its attachment points as `(*)` branches or
    /// a final `*`.
    pub prefix_smiles: String,
    /// One attachment point: the token ids of `prefix_smiles` (no `<bos>`), the prefix every sample starts with.
    /// Several: empty (the writing is walked through, see the module's documentation).
    pub prefix: Vec<i64>,
    /// The decoder's mean negative log-likelihood per token of the writing (nats): how natural it is.
    pub prefix_nll_per_token: f64,
    /// How many writings of the right shape were scored.
    pub candidates: usize,
    template: Vec<Piece>,
    /// The ids of `(` and `)` (-1 when the vocabulary lacks one).
    open: i64,
    close: i64,
    /// The ids of the vocabulary's ring-bond tokens (`1`, `%10`, ...).
    ring_digits: Vec<i64>,
    /// Per piece of `template`: at a branch, the scaffold's ring bonds open there (a decoration must not use them).
    open_rings: Vec<Vec<i64>>,
    /// Tokens a decoration never draws (`.`).
    never: Vec<i64>,
    /// Tokens a decoration does not start with: bonds other than single (`=`, `#`, `$`, `:`), `)`, ring bonds.
    not_first: Vec<i64>,
}

/// A ring-bond token either opens a ring (not open yet) or closes the open one of that number.
fn toggle_ring(open: &mut Vec<i64>, digit: i64) {
    match open.iter().position(|&r| r == digit) {
        Some(at) => {
            open.remove(at);
        }
        None => open.push(digit),
    }
}

/// A ring-bond token: one digit, or `%` and two.
fn is_ring_digit(token: &str) -> bool {
    let bytes = token.as_bytes();
    match bytes {
        [d] => d.is_ascii_digit(),
        [b'%', a, b] => a.is_ascii_digit() && b.is_ascii_digit(),
        _ => false,
    }
}

fn is_dummy(token: &str) -> bool {
    token == "*" || (token.starts_with("[*") && token.ends_with(']'))
}

/// The pieces of a tokenized writing with several attachment points, or `None` when one of its dummies is neither a
/// `(*)` branch nor the last token.
fn pieces(tokens: &[&str], id: &dyn Fn(&str) -> Option<i64>) -> Option<std::result::Result<Vec<Piece>, String>> {
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if is_dummy(t) {
            let branch = i > 0 && tokens[i - 1] == "(" && tokens.get(i + 1) == Some(&")");
            match (branch, i + 1 == tokens.len() && i > 0) {
                (true, _) => out.push(Piece::Branch),
                (false, true) => out.push(Piece::Tail),
                _ => return None,
            }
        } else {
            match id(t) {
                Some(id) => out.push(Piece::Token(id)),
                None => return Some(Err((*t).to_string())),
            }
        }
    }
    Some(Ok(out))
}

impl Scaffold {
    /// Parses `smiles` (one or more attachment points) and chooses its writing for `generator`'s decoder.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] naming the scaffold: RDKit cannot parse it, it has no attachment point, or no writing of
    /// the right shape can be spelt with the decoder's vocabulary.
    pub fn new(smiles: &str, generator: &Generator) -> Result<Scaffold> {
        let bad = |why: String| Error::Request(format!("--scaffold {smiles:?}: {why}"));
        let mol = Molecule::from_smiles(smiles).map_err(|e| bad(format!("RDKit cannot parse it: {}", e.reason())))?;
        let canonical = mol.try_canonical_smiles(true).map_err(|e| bad(e.to_string()))?;
        let tokens = SmilesTokenizer::tokenize(&canonical).map_err(|e| bad(e.to_string()))?;
        let points = tokens.iter().filter(|t| is_dummy(t)).count();
        if points == 0 {
            return Err(bad(
                "it has no attachment point (a `*` or `[*:1]` atom where the model writes), e.g. `c1ccc(cc1)[*:1]`"
                    .to_string(),
            ));
        }
        let vocab = generator.tokenizer.as_ref();
        let id = |t: &str| vocab.token_to_id(t).map(i64::from);
        let mut seen: std::collections::BTreeMap<String, Vec<Piece>> = std::collections::BTreeMap::new();
        let mut unknown = std::collections::BTreeSet::new();
        for seed in 0..TRIES {
            if seen.len() >= CANDIDATES {
                break;
            }
            let Ok(random) = mol.try_randomized_smiles(seed) else { continue };
            let Ok(toks) = SmilesTokenizer::tokenize(&random) else { continue };
            if points == 1 {
                // The writing must end at the dummy; the decoder starts from the rest.
                let Some((last, body)) = toks.split_last() else { continue };
                if !is_dummy(last) || body.is_empty() {
                    continue;
                }
                let missing: Vec<&str> = body.iter().copied().filter(|t| id(t).is_none()).collect();
                if missing.is_empty() {
                    let forced = body.iter().map(|t| Piece::Token(id(t).expect("checked"))).collect();
                    seen.insert(body.concat(), forced);
                } else {
                    unknown.extend(missing.into_iter().map(str::to_owned));
                }
            } else {
                match pieces(&toks, &id) {
                    None => continue,
                    Some(Err(token)) => {
                        unknown.insert(token);
                    }
                    Some(Ok(p)) => {
                        seen.insert(random, p);
                    }
                }
            }
        }
        if seen.is_empty() {
            return Err(bad(if !unknown.is_empty() {
                format!(
                    "the model's vocabulary lacks its token(s) {}",
                    unknown.into_iter().collect::<Vec<_>>().join(" ")
                )
            } else if points == 1 {
                "no SMILES of it ends at the attachment point (is the attachment atom bonded to exactly one atom?)"
                    .to_string()
            } else {
                format!(
                    "no SMILES of it writes each of its {points} attachment points as a branch `(*)` or as the last \
                     atom (is each attachment atom bonded to exactly one atom?)"
                )
            }));
        }
        let candidates = seen.len();
        // A methyl stands for each attachment point when a writing with several is scored.
        let methyl = id("C");
        let mut best: Option<(f64, String, Vec<Piece>)> = None;
        for (text, template) in seen {
            let ids: Vec<i64> = template
                .iter()
                .filter_map(|p| match p {
                    Piece::Token(id) => Some(*id),
                    Piece::Branch | Piece::Tail => methyl,
                })
                .collect();
            let nll = mean_nll(&generator.model, &ids)?;
            if best.as_ref().is_none_or(|(b, _, _)| nll < *b) {
                best = Some((nll, text, template));
            }
        }
        let (prefix_nll_per_token, prefix_smiles, mut template) = best.expect("at least one candidate");
        let prefix = if points == 1 {
            let ids = template.iter().map(|p| if let Piece::Token(id) = p { *id } else { unreachable!() }).collect();
            template.push(Piece::Tail);
            ids
        } else {
            Vec::new()
        };
        let open = id("(").unwrap_or(-1);
        let close = id(")").unwrap_or(-1);
        let ring_digits: Vec<i64> = (0..vocab.vocab_size() as u32)
            .filter(|&i| vocab.id_to_token(i).is_some_and(is_ring_digit))
            .map(i64::from)
            .collect();
        let never: Vec<i64> = id(".").into_iter().collect();
        let not_first: Vec<i64> =
            ["=", "#", "$", ":", ")"].iter().filter_map(|t| id(t)).chain(ring_digits.iter().copied()).collect();
        // The ring bonds of the scaffold open at each branch: a ring-bond token opens a ring or closes the open one.
        let mut rings: Vec<i64> = Vec::new();
        let mut open_rings = Vec::with_capacity(template.len());
        for piece in &template {
            match piece {
                Piece::Token(id) if ring_digits.contains(id) => {
                    toggle_ring(&mut rings, *id);
                    open_rings.push(Vec::new());
                }
                Piece::Branch => open_rings.push(rings.clone()),
                _ => open_rings.push(Vec::new()),
            }
        }
        Ok(Scaffold {
            canonical,
            points,
            prefix_smiles,
            prefix,
            prefix_nll_per_token,
            candidates,
            template,
            open,
            close,
            ring_digits,
            open_rings,
            never,
            not_first,
        })
    }

    /// Draws samples `first..first + n` of `options`' seeded stream from `model`, every one decorating the scaffold
    /// (`options.prefix` is replaced). Sample `i` is the same whatever `first`, `n` and the batch size. A sample's
    /// `tokens` are the whole SMILES (the scaffold's tokens included); its `nll` and `options.max_length` count
    /// the drawn tokens only.
    ///
    /// # Errors
    ///
    /// Invalid options, or a writing and `max_length` that exceed the model's positions.
    pub fn sample(&self, model: &SmilesGpt, first: u64, n: usize, options: &SamplingOptions) -> Result<Vec<Sample>> {
        if self.points == 1 {
            let options = SamplingOptions { prefix: self.prefix.clone(), ..options.clone() };
            return Ok(model.sample_range(first, n, &options)?);
        }
        options.validate()?;
        let config = model.config();
        let (Some(bos), Some(eos)) = (config.bos_token_id, config.eos_token_id) else {
            return Err(Error::Request("sampling needs bos_token_id and eos_token_id in config.json".into()));
        };
        let pad = config.pad_token_id.unwrap_or(eos);
        let forced = self.template.iter().filter(|p| matches!(p, Piece::Token(_))).count() as i64;
        if 1 + forced + options.max_length > config.max_position_embeddings {
            return Err(Error::Request(format!(
                "the scaffold's {forced} tokens and max_length {} exceed this model's {} positions",
                options.max_length, config.max_position_embeddings
            )));
        }
        let _guard = tch::no_grad_guard();
        let mut samples = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let size = options.batch_size.min(n - start);
            samples.extend(self.walk(model, first + start as u64, size, options, [bos, eos, pad], forced)?);
            start += size;
        }
        Ok(samples)
    }

    /// One batch of [`Scaffold::sample`] with several attachment points: the decoder walks through the writing.
    fn walk(
        &self,
        model: &SmilesGpt,
        first: u64,
        batch: usize,
        options: &SamplingOptions,
        [bos, eos, pad]: [i64; 3],
        forced: i64,
    ) -> Result<Vec<Sample>> {
        #[derive(Default)]
        struct Row {
            /// The next piece of the writing.
            pos: usize,
            /// Open parentheses of the decoration being drawn.
            depth: u32,
            /// Tokens of the decoration being drawn.
            decoration: usize,
            /// Tokens drawn (not forced) so far.
            drawn: i64,
            /// Ring bonds the decoration being drawn has opened and not closed.
            rings: Vec<i64>,
            tokens: Vec<u32>,
            nll: f64,
            done: bool,
            finished: bool,
        }
        let device = model.device();
        let mut cache = model.start_cache_with_capacity(batch as i64, 1 + forced + options.max_length);
        // <bos> and the forced tokens before the first attachment point, fed in one piece.
        let lead: Vec<i64> =
            self.template.iter().map_while(|p| if let Piece::Token(id) = p { Some(*id) } else { None }).collect();
        let mut rows: Vec<Row> = (0..batch)
            .map(|_| Row { pos: lead.len(), tokens: lead.iter().map(|&t| t as u32).collect(), ..Row::default() })
            .collect();
        let mut start = vec![bos];
        start.extend(&lead);
        let width = start.len() as i64;
        let mut next = Tensor::from_slice(&start).unsqueeze(0).expand([batch as i64, width], false).to_device(device);
        loop {
            let out = model.step(&mut cache, &next)?;
            let logits = out.select(1, out.size()[1] - 1).to_kind(Kind::Float);
            let vocab = logits.size()[1] as usize;
            // A decoration is a substituent on the attachment atom: it starts with an atom (the scaffold's bond to it
            // is single), has no `.`, and is not empty. In a branch also: no <eos>; no `)` closing the branch while
            // the decoration has a ring open; none of the scaffold's ring bonds open there (the decoration would
            // close the scaffold's ring).
            let mut ban = vec![false; batch * vocab];
            for (i, row) in rows.iter().enumerate() {
                let piece = if row.done { None } else { self.template.get(row.pos) };
                let mut no = |id: i64| {
                    if id >= 0 {
                        ban[i * vocab + id as usize] = true;
                    }
                };
                if matches!(piece, Some(Piece::Branch | Piece::Tail)) {
                    self.never.iter().for_each(|&id| no(id));
                    if row.decoration == 0 {
                        self.not_first.iter().for_each(|&id| no(id));
                        no(eos);
                    }
                }
                if piece == Some(&Piece::Branch) {
                    no(eos);
                    if row.depth == 0 && (row.decoration == 0 || !row.rings.is_empty()) {
                        no(self.close);
                    }
                    self.open_rings[row.pos].iter().for_each(|&id| no(id));
                }
            }
            let ban = Tensor::from_slice(&ban).view([batch as i64, vocab as i64]).to_device(device);
            let logits = logits.masked_fill(&ban, f64::NEG_INFINITY);
            let u: Vec<f64> =
                rows.iter().enumerate().map(|(i, r)| uniform(options.seed, first + i as u64, r.drawn as u64)).collect();
            let chosen = choose_tokens(&logits, &Tensor::from_slice(&u).to_device(device), options);
            let log_prob = logits.log_softmax(-1, Kind::Double).gather(1, &chosen.unsqueeze(1), false).squeeze_dim(1);
            let chosen = Vec::<i64>::try_from(chosen.to_device(tch::Device::Cpu))
                .map_err(|e| Error::Request(format!("reading sampled tokens: {e}")))?;
            let log_prob = Vec::<f64>::try_from(log_prob.to_device(tch::Device::Cpu))
                .map_err(|e| Error::Request(format!("reading sampled tokens: {e}")))?;
            let mut feed = vec![pad; batch];
            for (i, row) in rows.iter_mut().enumerate() {
                if row.done {
                    continue;
                }
                let token = match self.template.get(row.pos).copied() {
                    Some(Piece::Token(id)) => {
                        row.pos += 1;
                        id
                    }
                    // The writing ends without a final attachment point: <eos>, forced.
                    None => {
                        row.done = true;
                        row.finished = true;
                        continue;
                    }
                    Some(piece) => {
                        if row.drawn >= options.max_length {
                            row.done = true;
                            continue;
                        }
                        let token = chosen[i];
                        row.drawn += 1;
                        row.nll -= log_prob[i];
                        if piece == Piece::Tail {
                            if token == eos {
                                row.done = true;
                                row.finished = true;
                                continue;
                            }
                            row.decoration += 1;
                        } else if token == self.open {
                            row.depth += 1;
                            row.decoration += 1;
                        } else if self.ring_digits.contains(&token) {
                            toggle_ring(&mut row.rings, token);
                            row.decoration += 1;
                        } else if token == self.close && row.depth == 0 {
                            // The decoration closes the branch: the writing's `)` is written, go on after it.
                            row.pos += 2;
                            row.decoration = 0;
                        } else {
                            row.depth -= u32::from(token == self.close);
                            row.decoration += 1;
                        }
                        token
                    }
                };
                row.tokens.push(token as u32);
                feed[i] = token;
            }
            if rows.iter().all(|r| r.done) {
                break;
            }
            next = Tensor::from_slice(&feed).view([batch as i64, 1]).to_device(device);
        }
        Ok(rows.into_iter().map(|r| Sample { tokens: r.tokens, nll: r.nll, finished: r.finished }).collect())
    }
}

/// Checks molecules for a scaffold and counts, over the rounds of a run, the valid ones that contain it (the query
/// compiled once).
#[derive(Debug)]
pub struct Containment {
    query: Pattern,
    /// Valid molecules seen.
    pub valid: u64,
    /// Those that contain the scaffold.
    pub contained: u64,
}

impl Containment {
    /// A counter for `scaffold`, read as a SMARTS query (its dummy atoms match any atom).
    pub fn new(scaffold: &Scaffold) -> Result<Containment> {
        let query = Pattern::from_smarts(&scaffold.canonical)
            .map_err(|e| Error::Request(format!("--scaffold {}: as a substructure query: {e}", scaffold.canonical)))?;
        Ok(Containment { query, valid: 0, contained: 0 })
    }

    /// Whether the molecule `canonical` (a valid SMILES) contains the scaffold; counted.
    pub fn check(&mut self, canonical: &str) -> Result<bool> {
        let hit = Molecule::from_smiles(canonical)
            .and_then(|mol| mol.has_match(&self.query))
            .map_err(|e| Error::Request(format!("matching the scaffold in {canonical}: {e}")))?;
        self.valid += 1;
        self.contained += u64::from(hit);
        Ok(hit)
    }

    /// Checks molecules by their canonical SMILES: per molecule, whether it contains the scaffold (`None` for
    /// invalid ones, which are not counted).
    pub fn add_rows(&mut self, canonical: &[Option<&str>]) -> Result<Vec<Option<bool>>> {
        canonical.iter().map(|c| c.map(|c| self.check(c)).transpose()).collect()
    }

    /// The share of valid molecules that contain the scaffold (0 when none is valid).
    pub fn share(&self) -> f64 {
        self.contained as f64 / self.valid.max(1) as f64
    }
}

/// Mean teacher-forced negative log-likelihood per token of `<bos> ids` (without `<eos>`).
fn mean_nll(model: &SmilesGpt, ids: &[i64]) -> Result<f64> {
    let bos = model.config().bos_token_id.unwrap_or(1);
    let mut input = vec![bos];
    input.extend_from_slice(ids);
    let input = Tensor::from_slice(&input).unsqueeze(0).to_device(model.device());
    let mask = input.ones_like();
    let per_token =
        model.token_log_probs(&input, &mask).map_err(|e| Error::Request(format!("scoring the scaffold: {e}")))?;
    Ok(-per_token.sum(Kind::Double).double_value(&[]) / ids.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::tests::tiny_model;

    #[test]
    fn the_prefix_ends_at_the_attachment_atom_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let g = Generator::load("tiny", dir.path(), dir.path(), tch::Device::Cpu).unwrap();
        let s = Scaffold::new("c1ccc(cc1)[*:1]", &g).unwrap();
        assert_eq!(s.canonical, "c1ccc([*:1])cc1", "RDKit 2022.09's canonical form");
        assert_eq!(s.points, 1);
        assert!(s.candidates >= 1);
        // Appending a methyl where the dummy was gives toluene: the prefix ends at the attachment atom.
        let toluene = Molecule::from_smiles(&format!("{}C", s.prefix_smiles)).unwrap();
        assert_eq!(toluene.canonical_smiles(true), "Cc1ccccc1");
        assert_eq!(Scaffold::new("[*:1]c1ccccc1", &g).unwrap(), s, "any spelling, same choice");
        let err = Scaffold::new("c1ccccc1", &g).unwrap_err().to_string();
        assert!(err.contains("no attachment point"), "{err}");
        let err = Scaffold::new("c1ccc(cc1)[*:1", &g).unwrap_err().to_string();
        assert!(err.contains("RDKit cannot parse"), "{err}");
        // The tiny vocabulary has no sulfur.
        let err = Scaffold::new("*c1ccsc1", &g).unwrap_err().to_string();
        assert!(err.ends_with("lacks its token(s) s"), "{err}");
        // A dummy bonded to two atoms can be neither the last atom nor a branch.
        let err = Scaffold::new("c1ccccc1*C", &g).unwrap_err().to_string();
        assert!(err.contains("ends at the attachment point"), "{err}");
        let err = Scaffold::new("[*:1]CC[*:2]C", &g).unwrap_err().to_string();
        assert!(err.contains("as a branch `(*)` or as the last atom"), "{err}");
    }

    /// The pieces of `text` (a writing), with the tokens spelt back, for assertions.
    fn spelt(s: &Scaffold, g: &Generator) -> Vec<String> {
        s.template
            .iter()
            .map(|p| match p {
                Piece::Token(id) => g.tokenizer.id_to_token(*id as u32).unwrap().to_string(),
                Piece::Branch => "<branch>".to_string(),
                Piece::Tail => "<tail>".to_string(),
            })
            .collect()
    }

    #[test]
    fn several_attachment_points_are_walked_through() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let g = Generator::load("tiny", dir.path(), dir.path(), tch::Device::Cpu).unwrap();
        let s = Scaffold::new("[*:1]c1ccc([*:2])cc1", &g).unwrap();
        assert_eq!((s.points, s.prefix.len()), (2, 0));
        let pieces = spelt(&s, &g);
        // Every attachment point is a `(*)` branch or the last piece, and the writing spells the scaffold.
        for (i, p) in pieces.iter().enumerate() {
            if p == "<branch>" {
                assert_eq!((pieces[i - 1].as_str(), pieces[i + 1].as_str()), ("(", ")"), "{pieces:?}");
            }
            assert!(p != "<tail>" || i + 1 == pieces.len(), "{pieces:?}");
        }
        assert_eq!(pieces.iter().filter(|p| p.starts_with('<')).count(), 2);
        assert!(is_ring_digit("1") && is_ring_digit("%12") && !is_ring_digit("%1") && !is_ring_digit("C"));
        let written = Molecule::from_smiles(&s.prefix_smiles).unwrap().canonical_smiles(true);
        assert_eq!(written, s.canonical);

        // Every sample follows the writing: its forced tokens in order, a non-empty decoration at each point.
        let options = SamplingOptions { max_length: 20, batch_size: 5, seed: 3, ..SamplingOptions::default() };
        let samples = s.sample(&g.model, 2, 12, &options).unwrap();
        assert_eq!(samples.len(), 12);
        let mut complete = 0;
        for sample in &samples {
            let tokens: Vec<&str> = sample.tokens.iter().map(|&t| g.tokenizer.id_to_token(t).unwrap()).collect();
            let mut at = 0;
            let mut piece = 0;
            while piece < pieces.len() && at < tokens.len() {
                match pieces[piece].as_str() {
                    "<branch>" => {
                        // A decoration: balanced, closed by the writing's `)`.
                        let mut depth = 0;
                        let start = at;
                        while at < tokens.len() && !(tokens[at] == ")" && depth == 0) {
                            depth += i32::from(tokens[at] == "(") - i32::from(tokens[at] == ")");
                            at += 1;
                        }
                        assert!(at > start, "an empty decoration in {tokens:?}");
                        // Its ring bonds are its own: none of the scaffold's open ones, each closed within it.
                        let digits: Vec<&str> =
                            tokens[start..at].iter().copied().filter(|t| is_ring_digit(t)).collect();
                        for d in &digits {
                            let id = i64::from(g.tokenizer.token_to_id(d).unwrap());
                            assert!(!s.open_rings[piece].contains(&id), "{d} in {tokens:?}");
                            if at < tokens.len() {
                                assert_eq!(digits.iter().filter(|x| x == &d).count() % 2, 0, "{tokens:?}");
                            }
                        }
                        piece += 1;
                    }
                    "<tail>" => {
                        at = tokens.len();
                        piece += 1;
                    }
                    forced => {
                        assert_eq!(tokens[at], forced, "{tokens:?} against {pieces:?}");
                        at += 1;
                        piece += 1;
                    }
                }
            }
            if sample.finished {
                assert_eq!(piece, pieces.len(), "a finished sample wrote the whole scaffold: {tokens:?}");
                complete += 1;
            }
            assert!(sample.nll > 0.0);
        }
        assert!(complete > 0, "some samples finish");
        // Seeded: the same samples whatever the batch size and the first sample asked for.
        let again = s.sample(&g.model, 0, 14, &SamplingOptions { batch_size: 14, ..options.clone() }).unwrap();
        for (a, b) in samples.iter().zip(&again[2..]) {
            assert_eq!((&a.tokens, a.finished), (&b.tokens, b.finished));
            assert!((a.nll - b.nll).abs() < 1e-4);
        }
        let other = s.sample(&g.model, 2, 12, &SamplingOptions { seed: 4, ..options }).unwrap();
        assert_ne!(samples, other);
    }
}
