//! The compact syntax of turbulence given from outside the code (`--turbulence SPEC` after `--`,
//! or `WINDTUNNEL_TURBULENCE`), for an ad-hoc run. It replaces every phase set in code.
//!
//! ```text
//! SPEC    = "off" | PHASE ("|" PHASE)*
//! PHASE   = NAME ["@" WINDOW] [" every=PERIOD/LENGTH"] [" ramp=FROM..TO"] ":" RULE (";" RULE)*
//! WINDOW  = [TIME] ".." [TIME]            10s..20s, 30s.., ..5s
//!         | SHARE% ".." SHARE%            25%..50% of the load's duration
//! RULE    = ACTION (" " KEY=VALUE)*
//! ```
//!
//! HTTP faults, with the keys `p` (probability), `count`, `name`, `method`, `path`:
//! `delay=300ms [jitter=50ms | jitter=normal:20ms | jitter=exponential:30ms |
//! jitter=pareto:10ms:2.5]`, `abort=503 [header=retry-after:1]... [body=TEXT]`, `hang`,
//! `drop=request`, `drop=response`. With `proxy=NAME`, a fault acts in that proxy, per HTTP/1.1
//! request, as an HTTP toxic ([`Toxic::http`]): `toxicity` is then its share of requests, and
//! it takes no `p`, `count` or `name`.
//!
//! Toxics, with the keys `proxy` (default `target`, see `Scenario::through_proxy`), `dir`
//! (`up`, `down`, `both`) and `toxicity`: `latency=100ms [jitter=10ms]`, `bandwidth=KB_PER_S`,
//! `reset_peer=AFTER`, `timeout=AFTER` (0 = black hole), `slow_close=DELAY`, `limit_data=BYTES`,
//! `down`, `slicer=AVERAGE/VARIATION/DELAY` (bytes, bytes, time).
//!
//! Values with spaces are quoted: `name="add to cart"`. Example:
//!
//! ```text
//! brownout@10s..20s: delay=300ms jitter=100ms p=0.5 name="add to cart"; abort=503 p=0.05 path=/cart*
//!   | flap every=30s/5s: down
//! ```

use std::time::Duration;

use super::{Fault, Jitter, Phase, Toxic};

/// Turbulence given from outside the code: the text as given, and the phases it describes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Override {
    pub(crate) text: String,
    pub(crate) phases: Vec<Phase>,
}

/// Parses a spec. The error says which phase and rule, and what is wrong.
pub(crate) fn parse(text: &str) -> Result<Override, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty: give phases, or `off` for no turbulence".into());
    }
    let mut phases = Vec::new();
    if trimmed != "off" {
        for (i, part) in split_outside_quotes(trimmed, '|').iter().enumerate() {
            let phase = parse_phase(part.trim())
                .map_err(|e| format!("phase {} (`{}`): {e}", i + 1, part.trim()))?;
            phases.push(phase);
        }
    }
    Ok(Override {
        text: trimmed.to_owned(),
        phases,
    })
}

fn parse_phase(text: &str) -> Result<Phase, String> {
    let Some((header, rules)) = split_once_outside_quotes(text, ':') else {
        return Err("expected `NAME[@WINDOW]: RULE; RULE`, with a `:` after the name".into());
    };
    let mut words = split_words(header)?.into_iter();
    let head = words.next().ok_or("a phase needs a name")?;
    let (name, window) = match head.split_once('@') {
        Some((name, window)) => (name, Some(window)),
        None => (head.as_str(), None),
    };
    if name.is_empty() {
        return Err("a phase needs a name before `@`".into());
    }
    let mut phase = Phase::new(name);
    if let Some(window) = window {
        phase = parse_window(phase, window)?;
    }
    for word in words {
        let (key, value) = key_value(&word)?;
        match key {
            "every" => {
                let (period, length) = value.split_once('/').ok_or_else(|| {
                    format!("`every={value}`: expected PERIOD/LENGTH, like 30s/5s")
                })?;
                phase = phase.every(duration(period)?, duration(length)?);
            }
            "ramp" => {
                let (a, b) = value
                    .split_once("..")
                    .ok_or_else(|| format!("`ramp={value}`: expected FROM..TO, like 0..1"))?;
                phase = phase.ramp(number(a)?, number(b)?);
            }
            other => {
                return Err(format!(
                    "unknown phase setting `{other}` (expected `every=PERIOD/LENGTH` or \
                     `ramp=FROM..TO`)"
                ));
            }
        }
    }
    for (i, rule) in split_outside_quotes(rules, ';').iter().enumerate() {
        let rule = rule.trim();
        if rule.is_empty() {
            continue;
        }
        phase = parse_rule(phase, rule).map_err(|e| format!("rule {} (`{rule}`): {e}", i + 1))?;
    }
    Ok(phase)
}

fn parse_window(phase: Phase, window: &str) -> Result<Phase, String> {
    let (from, to) = window.split_once("..").ok_or_else(|| {
        format!("window `{window}`: expected FROM..TO, like 10s..20s or 25%..50%")
    })?;
    if from.ends_with('%') || to.ends_with('%') {
        let share = |s: &str| -> Result<f64, String> {
            let n = s.strip_suffix('%').ok_or_else(|| {
                format!("window `{window}`: give both ends as shares (`25%..50%`) or as times")
            })?;
            Ok(number(n)? / 100.0)
        };
        return Ok(phase.during_share(share(from)?..share(to)?));
    }
    Ok(match (from.is_empty(), to.is_empty()) {
        (_, true) => phase.during(
            if from.is_empty() {
                Duration::ZERO
            } else {
                duration(from)?
            }..,
        ),
        (true, false) => phase.during(..duration(to)?),
        (false, false) => phase.during(duration(from)?..duration(to)?),
    })
}

fn parse_rule(phase: Phase, rule: &str) -> Result<Phase, String> {
    let words = split_words(rule)?;
    let (action, options) = words.split_first().ok_or("an empty rule")?;
    let (kind, arg) = match action.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (action.as_str(), None),
    };
    let arg = |what: &str| arg.ok_or_else(|| format!("`{kind}` needs a value: `{kind}={what}`"));
    let toxic = match kind {
        "latency" => Some(Toxic::latency(duration(arg("100ms")?)?)),
        "bandwidth" => Some(Toxic::bandwidth(integer(arg("KB_PER_S")?)?)),
        "reset_peer" => Some(Toxic::reset_peer(duration(arg("0ms")?)?)),
        "timeout" => Some(Toxic::timeout(duration(arg("0ms")?)?)),
        "slow_close" => Some(Toxic::slow_close(duration(arg("500ms")?)?)),
        "limit_data" => Some(Toxic::limit_data(integer(arg("BYTES")?)?)),
        "down" => Some(Toxic::down()),
        "slicer" => {
            let v = arg("AVERAGE/VARIATION/DELAY")?;
            let parts: Vec<&str> = v.split('/').collect();
            let [average, variation, delay] = parts[..] else {
                return Err(format!(
                    "`slicer={v}`: expected AVERAGE/VARIATION/DELAY, like 100/20/1ms"
                ));
            };
            Some(Toxic::slicer(
                integer(average)? as usize,
                integer(variation)? as usize,
                duration(delay)?,
            ))
        }
        _ => None,
    };
    if let Some(mut toxic) = toxic {
        let mut proxy = "target".to_owned();
        for option in options {
            let (key, value) = key_value(option)?;
            match key {
                "proxy" => proxy = value.to_owned(),
                "dir" => {
                    toxic = match value {
                        "up" | "upstream" => toxic.upstream(),
                        "down" | "downstream" => toxic.downstream(),
                        "both" => toxic.both(),
                        _ => return Err(format!("`dir={value}`: expected up, down or both")),
                    }
                }
                "toxicity" => toxic = toxic.toxicity(number(value)?),
                "jitter" => toxic = toxic.jitter(jitter(value)?),
                _ => {
                    return Err(format!(
                        "unknown key `{key}` for a toxic (keys: proxy, dir, toxicity, jitter)"
                    ));
                }
            }
        }
        if let Some(problem) = toxic.problem() {
            return Err(problem);
        }
        return Ok(phase.toxic(&proxy, toxic));
    }
    let mut fault = match kind {
        "delay" => Fault::delay(duration(arg("300ms")?)?),
        "abort" => Fault::abort(
            u16::try_from(integer(arg("503")?)?).map_err(|_| "a status must be below 65536")?,
        ),
        "hang" => Fault::hang(),
        "drop" => match arg("request")? {
            "request" => Fault::drop_request(),
            "response" => Fault::drop_response(),
            other => return Err(format!("`drop={other}`: expected request or response")),
        },
        _ => {
            return Err(format!(
                "unknown fault or toxic `{kind}` (faults: delay, abort, hang, drop; toxics: \
                 latency, bandwidth, reset_peer, timeout, slow_close, limit_data, down, slicer)"
            ));
        }
    };
    let (mut proxy, mut toxicity) = (None, None);
    for option in options {
        let (key, value) = key_value(option)?;
        fault = match key {
            "proxy" => {
                proxy = Some(value.to_owned());
                fault
            }
            "toxicity" => {
                toxicity = Some(number(value)?);
                fault
            }
            "p" => fault.probability(number(value)?),
            "count" => fault.count(integer(value)?),
            "name" => fault.on(value),
            "method" => fault.method(value),
            "path" => fault.path(value),
            "jitter" => fault.jitter(jitter(value)?),
            "header" => {
                let (n, v) = value
                    .split_once(':')
                    .ok_or_else(|| format!("`header={value}`: expected NAME:VALUE"))?;
                fault.header(n.trim(), v.trim())
            }
            "body" => fault.body(value.to_owned()),
            _ => {
                return Err(format!(
                    "unknown key `{key}` for a fault (keys: p, count, name, method, path, \
                     jitter, header, body, proxy, toxicity)"
                ));
            }
        };
    }
    if let Some(proxy) = proxy {
        let toxic = Toxic::http(fault).toxicity(toxicity.unwrap_or(1.0));
        if let Some(problem) = toxic.problem() {
            return Err(problem);
        }
        return Ok(phase.toxic(&proxy, toxic));
    }
    if toxicity.is_some() {
        return Err(
            "`toxicity` is the share of a toxic; a fault's chance is `p` (or give `proxy=` to \
             make it act in a proxy, per request)"
                .into(),
        );
    }
    if let Some(problem) = fault.problem() {
        return Err(problem);
    }
    Ok(phase.fault(fault))
}

fn jitter(value: &str) -> Result<Jitter, String> {
    let mut parts = value.split(':');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    Ok(match (first, rest.as_slice()) {
        ("uniform", [d]) => Jitter::uniform(duration(d)?),
        ("normal", [d]) => Jitter::normal(duration(d)?),
        ("exponential", [d]) => Jitter::exponential(duration(d)?),
        ("pareto", [scale, shape]) => Jitter::pareto(duration(scale)?, number(shape)?),
        (d, []) => Jitter::uniform(duration(d)?),
        _ => {
            return Err(format!(
                "jitter `{value}`: expected a time (±uniform), normal:SD, exponential:MEAN or \
                 pareto:SCALE:SHAPE"
            ));
        }
    })
}

fn key_value(word: &str) -> Result<(&str, &str), String> {
    word.split_once('=')
        .ok_or_else(|| format!("`{word}`: expected KEY=VALUE"))
}

fn duration(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a time like 250ms, 10s or 1m ({e})"))
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number"))
}

fn integer(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("`{s}` is not a whole number"))
}

/// Splits at `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

fn split_once_outside_quotes(s: &str, sep: char) -> Option<(&str, &str)> {
    let mut parts = split_outside_quotes(s, sep);
    if parts.len() < 2 {
        return None;
    }
    let first = parts.remove(0);
    Some((first, &s[first.len() + sep.len_utf8()..]))
}

/// Splits at whitespace outside double quotes, dropping the quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(format!("an unclosed quote in `{s}`"));
    }
    if any {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ms, secs};

    #[test]
    fn parses_the_documented_example() {
        let spec = r#"brownout@10s..20s: delay=300ms jitter=100ms p=0.5 name="add to cart"; abort=503 p=0.05 path=/cart* header=retry-after:1
              | flap every=30s/5s: down"#;
        let parsed = parse(spec).unwrap();
        let expected = vec![
            Phase::new("brownout")
                .during(secs(10)..secs(20))
                .fault(
                    Fault::delay(ms(300))
                        .jitter(ms(100))
                        .probability(0.5)
                        .on("add to cart"),
                )
                .fault(
                    Fault::abort(503)
                        .probability(0.05)
                        .path("/cart*")
                        .header("retry-after", "1"),
                ),
            Phase::new("flap")
                .every(secs(30), secs(5))
                .toxic("target", Toxic::down()),
        ];
        assert_eq!(parsed.phases, expected);
        assert_eq!(parse("off").unwrap().phases, vec![]);
    }

    #[test]
    fn parses_windows_toxics_and_jitter() {
        let p = parse(
            "slow@25%..50% ramp=0..1: latency=100ms jitter=normal:10ms dir=both toxicity=0.5 \
             proxy=db; slicer=100/20/1ms; drop=response count=3",
        )
        .unwrap();
        assert_eq!(
            p.phases,
            vec![
                Phase::new("slow")
                    .during_share(0.25..0.5)
                    .ramp(0.0, 1.0)
                    .toxic(
                        "db",
                        Toxic::latency(ms(100))
                            .jitter(Jitter::normal(ms(10)))
                            .both()
                            .toxicity(0.5)
                    )
                    .toxic("target", Toxic::slicer(100, 20, ms(1)))
                    .fault(Fault::drop_response().count(3))
            ]
        );
        let open = parse("late@30s..: hang").unwrap();
        assert_eq!(
            open.phases,
            vec![Phase::new("late").during(secs(30)..).fault(Fault::hang())]
        );
        assert_eq!(
            parse("x: delay=1ms jitter=pareto:10ms:2.5").unwrap().phases,
            vec![Phase::new("x").fault(Fault::delay(ms(1)).jitter(Jitter::pareto(ms(10), 2.5)))]
        );
    }

    #[test]
    fn a_fault_with_a_proxy_is_an_http_toxic_in_it() {
        let p = parse(
            "payments: abort=503 proxy=payments toxicity=0.2 method=POST path=/pay* \
             body=busy; delay=50ms proxy=payments",
        )
        .unwrap();
        assert_eq!(
            p.phases,
            vec![
                Phase::new("payments")
                    .toxic(
                        "payments",
                        Toxic::http(Fault::abort(503).method("POST").path("/pay*").body("busy"))
                            .toxicity(0.2)
                    )
                    .toxic("payments", Toxic::http(Fault::delay(ms(50))))
            ]
        );
        let err = |s: &str| parse(s).unwrap_err();
        assert!(
            err("a: abort=503 proxy=db p=0.5").contains("its `toxicity`, not a probability"),
            "{}",
            err("a: abort=503 proxy=db p=0.5")
        );
        assert!(err("a: hang proxy=db name=x").contains("no request names"));
        assert!(err("a: abort=503 toxicity=0.5").contains("a fault's chance is `p`"));
    }

    #[test]
    fn errors_name_the_phase_and_the_rule() {
        let err = |s: &str| parse(s).unwrap_err();
        assert_eq!(
            err("a: hang | b: delay=5ms p=1.5"),
            "phase 2 (`b: delay=5ms p=1.5`): rule 1 (`delay=5ms p=1.5`): probability 1.5 is \
             outside 0..=1"
        );
        assert!(err("a: wobble").contains("unknown fault or toxic `wobble`"));
        assert!(err("a: latency=5ms jitter=weird:1ms").contains("jitter `weird:1ms`"));
        assert!(err("a: delay=soon").contains("`soon` is not a time"));
        assert!(err("a hang").contains("with a `:` after the name"));
        assert!(err("a@10s: hang").contains("expected FROM..TO"));
        assert!(err("a@10%..20s: hang").contains("give both ends as shares"));
        assert!(err("a: down proxy=db tox=1").contains("unknown key `tox`"));
        assert!(err("a: hang name=\"open").contains("unclosed quote"));
        assert!(err("").contains("empty"));
        assert!(err("a every=5s: hang").contains("expected PERIOD/LENGTH"));
        assert!(err("a: toxicity=2 down").contains("unknown fault or toxic `toxicity`"));
        assert!(err("a: down toxicity=2").contains("toxicity 2 is outside 0..=1"));
        assert!(err("a: drop=both").contains("`drop=both`: expected request or response"));
        assert!(err("a: drop").contains("`drop` needs a value: `drop=request`"));
        assert!(err("a: down dir=sideways").contains("`dir=sideways`: expected up, down or both"));
        assert!(err("a: slicer=100/20").contains("expected AVERAGE/VARIATION/DELAY"));
        assert!(err("a ramp=1: hang").contains("`ramp=1`: expected FROM..TO"));
        assert!(err("a wobble=1: hang").contains("unknown phase setting `wobble`"));
        assert!(err("a: abort=70000").contains("a status must be below 65536"));
        assert!(err("a: abort=503 header=retry-after").contains("expected NAME:VALUE"));
        assert!(err("a: hang p=x").contains("`x` is not a number"));
        assert!(err("a: hang count=-1").contains("`-1` is not a whole number"));
        assert!(err("a: hang junk").contains("`junk`: expected KEY=VALUE"));
        assert!(err("@1s..2s: hang").contains("a phase needs a name before `@`"));
        assert!(err(": hang").contains("a phase needs a name"));
    }
}
