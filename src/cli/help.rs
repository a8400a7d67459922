//! Command help built from the server's `COMMAND DOCS`, as redis-cli 7 does: `help SET`,
//! `help @string`, the argument hints shown while typing, and the names tab completes.

use super::conn::Reply;
use super::Cli;

/// One help topic: a command (or `CONTAINER SUBCOMMAND`) or a `@group`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The words of the name, upper case (`["CONFIG", "GET"]`, or `["@string"]`).
    pub words: Vec<String>,
    /// The words joined by a space.
    pub full: String,
    pub params: String,
    pub summary: String,
    pub since: Option<String>,
    pub group: String,
    pub is_group: bool,
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(r.bytes().unwrap_or(b"")).into_owned()
}

/// Looks up `key` in a map-like reply (a RESP3 map or a RESP2 flat array).
fn field<'a>(r: &'a Reply, key: &str) -> Option<&'a Reply> {
    let v = r.elements()?;
    v.chunks(2)
        .find(|p| p[0].bytes() == Some(key.as_bytes()))
        .and_then(|p| p.get(1))
}

fn or_empty(s: &str) -> String {
    if s.is_empty() {
        "\"\"".to_string()
    } else {
        s.to_string()
    }
}

fn concat_args(args: &Reply, sep: &str) -> String {
    args.elements()
        .unwrap_or(&[])
        .iter()
        .map(argument)
        .collect::<Vec<_>>()
        .join(sep)
}

/// One argument's synopsis: `[EX seconds|PX milliseconds]`, `key [key ...]` and so on.
fn argument(a: &Reply) -> String {
    let name = field(a, "name").map(text).unwrap_or_default();
    let ty = field(a, "type").map(text).unwrap_or_default();
    let token = field(a, "token").map(|t| or_empty(&text(t))).unwrap_or_default();
    let flags: Vec<String> = field(a, "flags")
        .and_then(|f| f.elements())
        .unwrap_or(&[])
        .iter()
        .map(text)
        .collect();
    let has = |f: &str| flags.iter().any(|x| x == f);
    let repeat = match ty.as_str() {
        "oneof" => field(a, "arguments").map(|x| concat_args(x, "|")).unwrap_or_default(),
        "block" => field(a, "arguments").map(|x| concat_args(x, " ")).unwrap_or_default(),
        "pure-token" => String::new(),
        _ => or_empty(&name),
    };
    let mut token_part = token;
    if !token_part.is_empty() && ty != "pure-token" {
        token_part.push(' ');
    }
    let mut out = String::new();
    if has("optional") {
        out.push('[');
    }
    out.push_str(&token_part);
    out.push_str(&repeat);
    if has("multiple") {
        out.push_str(" [");
        if has("multiple_token") {
            out.push_str(&token_part);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if has("optional") {
        out.push(']');
    }
    out
}

fn entries_for(name: &str, sub: Option<&str>, spec: &Reply, out: &mut Vec<Entry>, groups: &mut Vec<String>) {
    let mut words = vec![name.to_uppercase()];
    if let Some(s) = sub {
        words.push(s.split_once('|').map(|(_, b)| b).unwrap_or(s).to_uppercase());
    }
    let group = field(spec, "group").map(text).unwrap_or_default();
    if !group.is_empty() && !groups.contains(&group) {
        groups.push(group.clone());
    }
    out.push(Entry {
        full: words.join(" "),
        words,
        params: field(spec, "arguments")
            .map(|a| concat_args(a, " "))
            .unwrap_or_default(),
        summary: field(spec, "summary").map(text).unwrap_or_default(),
        since: field(spec, "since").map(text),
        group,
        is_group: false,
    });
    if let Some(subs) = field(spec, "subcommands").and_then(|s| s.elements()) {
        for pair in subs.chunks(2) {
            if let Some(sspec) = pair.get(1) {
                entries_for(name, Some(&text(&pair[0])), sspec, out, groups);
            }
        }
    }
}

/// Builds the help table from a `COMMAND DOCS` reply, sorted by name, groups included.
pub fn from_docs(docs: &Reply) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for pair in docs.elements().unwrap_or(&[]).chunks(2) {
        if let Some(spec) = pair.get(1) {
            entries_for(&text(&pair[0]), None, spec, &mut out, &mut groups);
        }
    }
    for g in groups {
        let full = format!("@{g}");
        out.push(Entry {
            words: vec![full.clone()],
            full,
            params: String::new(),
            summary: String::new(),
            since: None,
            group: String::new(),
            is_group: true,
        });
    }
    out.sort_by(|a, b| a.full.cmp(&b.full));
    out
}

/// Fetches the help table once per session (empty when the server cannot be reached).
pub fn init(cli: &mut Cli) {
    if cli.help.is_some() {
        return;
    }
    if !cli.connect(false, true) {
        return;
    }
    let docs = cli.conn.as_mut().and_then(|c| c.call(&["COMMAND", "DOCS"]).ok());
    match docs {
        Some(d) if !d.is_error() => cli.help = Some(from_docs(&d)),
        Some(_) => cli.help = Some(Vec::new()),
        None => cli.conn = None,
    }
}

fn print_entry(e: &Entry, with_group: bool) -> String {
    let mut s = format!(
        "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n  \x1b[33msummary:\x1b[0m {}\r\n",
        e.full, e.params, e.summary
    );
    if let Some(since) = &e.since {
        s.push_str(&format!("  \x1b[33msince:\x1b[0m {since}\r\n"));
    }
    if with_group {
        s.push_str(&format!("  \x1b[33mgroup:\x1b[0m {}\r\n", e.group));
    }
    s
}

/// `help`, `help <command>`, `help @<group>`.
pub fn output_help(cli: &mut Cli, topics: &[String]) {
    if topics.is_empty() {
        print!(
            "ochre-cli {}\n\
             To get help about commands type:\n      \
             \"help @<group>\" to get a list of commands in <group>\n      \
             \"help <command>\" for help on <command>\n      \
             \"help <tab>\" to get a list of possible help topics\n      \
             \"quit\" to exit\n\n\
             To set ochre-cli preferences:\n      \
             \":set hints\" enable online hints\n      \
             \":set nohints\" disable online hints\n",
            crate::VERSION
        );
        return;
    }
    init(cli);
    let entries = cli.help.clone().unwrap_or_default();
    let mut out = String::new();
    let group = topics[0].strip_prefix('@');
    for e in entries.iter().filter(|e| !e.is_group) {
        match group {
            Some(g) => {
                if e.group.eq_ignore_ascii_case(g) {
                    out.push_str(&print_entry(e, false));
                }
            }
            None => {
                if topics.len() <= e.words.len() && topics.iter().zip(&e.words).all(|(t, w)| t.eq_ignore_ascii_case(w))
                {
                    out.push_str(&print_entry(e, true));
                }
            }
        }
    }
    out.push_str("\r\n");
    print!("{out}");
}

/// The hint shown after what the user typed: the arguments of the longest matching command,
/// less those already typed (as redis-cli's hintsCallback).
pub fn hint(entries: &[Entry], line: &str) -> Option<String> {
    let argv = crate::protocol::parser::split_owned(line.as_bytes()).ok()?;
    if argv.is_empty() {
        return None;
    }
    let argv: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let mut best: Option<&Entry> = None;
    let mut matchlen = 0;
    for e in entries.iter().filter(|e| !e.is_group) {
        let n = e.words.len();
        if n <= argv.len() && n > matchlen && e.words.iter().zip(&argv).all(|(w, a)| w.eq_ignore_ascii_case(a)) {
            matchlen = n;
            best = Some(e);
        }
    }
    let e = best?;
    let mut hint = e.params.as_str();
    let mut toremove = argv.len() - matchlen;
    while toremove > 0 && !hint.is_empty() {
        if hint.starts_with('[') {
            break;
        }
        if hint.starts_with(' ') {
            toremove -= 1;
        }
        hint = &hint[hint.chars().next().map_or(1, char::len_utf8)..];
    }
    let endspace = line.ends_with(|c: char| c.is_ascii_whitespace());
    Some(if endspace { hint.to_string() } else { format!(" {hint}") })
}

/// Completions for the line typed so far: command names, and help topics after `help `.
pub fn complete(entries: &[Entry], line: &str) -> Vec<String> {
    let (start, groups_too) = if line.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("help ")) {
        let rest = &line[5..];
        (line.len() - rest.trim_start().len(), true)
    } else {
        (0, false)
    };
    let typed = &line[start..];
    entries
        .iter()
        .filter(|e| groups_too || !e.is_group)
        .filter(|e| {
            e.full.len() >= typed.len() && e.full.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed.as_bytes())
        })
        .map(|e| format!("{}{}", &line[..start], e.full))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(full: &str, params: &str) -> Entry {
        Entry {
            words: full.split(' ').map(String::from).collect(),
            full: full.into(),
            params: params.into(),
            summary: String::new(),
            since: None,
            group: "string".into(),
            is_group: false,
        }
    }

    #[test]
    fn hints_drop_typed_arguments() {
        let e = vec![
            entry("SET", "key value [NX|XX]"),
            entry("CONFIG GET", "parameter [parameter ...]"),
        ];
        assert_eq!(hint(&e, "set").as_deref(), Some(" key value [NX|XX]"));
        assert_eq!(hint(&e, "set k ").as_deref(), Some("value [NX|XX]"));
        assert_eq!(hint(&e, "config get").as_deref(), Some(" parameter [parameter ...]"));
        assert_eq!(hint(&e, "nosuch"), None);
    }

    #[test]
    fn completes_names_and_help_topics() {
        let mut e = vec![entry("SET", ""), entry("SETEX", ""), entry("GET", "")];
        e.push(Entry {
            is_group: true,
            ..entry("@string", "")
        });
        assert_eq!(complete(&e, "se"), vec!["SET", "SETEX"]);
        assert_eq!(complete(&e, "help @s"), vec!["help @string"]);
    }
}
