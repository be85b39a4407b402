//! A quick parser for the plain part of tera's syntax: text, `{{ name |
//! filter(key=value) }}`, `{% if %}` / `{% elif %}` / `{% else %}`, and
//! `{% for x in list %}`, which is all our templates use. It builds the same
//! tree tera's own parser builds and answers `None` for anything else
//! (comments, whitespace control, expressions, macros, ...), which then goes
//! to tera's parser.
//!
//! Why: tera 1 parses with pest at about 2,400 instructions per template
//! byte. The two acknowledgement templates cost 4.8 M of the 10.2 M
//! instructions of a one-mail `postdesk ingest` (callgrind), which an MTA
//! pipe pays on every mail; this parser reads them in 88 K (callgrind,
//! about 46 instructions per byte).
//! The tests hold it to tera's result on every built-in template and on
//! generated ones.

use std::collections::HashMap;

use tera::ast::{
    Expr, ExprVal, Forloop, FunctionCall, If, LogicExpr, LogicOperator, Node, Test, WS,
};

/// The tree tera would build for `source`, or `None` when it uses anything
/// but the plain subset (tera then parses it, and reports its errors).
pub fn parse(source: &str) -> Option<Vec<Node>> {
    let mut p = Parser { rest: source };
    let (nodes, end) = p.nodes()?;
    match end {
        End::Eof => Some(nodes),
        _ => None,
    }
}

/// What ended a run of nodes: the input's end, or a tag (`If` is
/// `{% endif %}`, `For` is `{% endfor %}`).
enum End {
    Eof,
    Elif(Expr),
    Else,
    If,
    For,
}

struct Parser<'s> {
    rest: &'s str,
}

#[derive(Debug, PartialEq)]
enum Token<'s> {
    Word(&'s str),
    Str(&'s str),
    Int(i64),
    Pipe,
    Open,
    Close,
    Comma,
    Assign,
    Eq,
    NotEq,
    /// `}}`, closing a variable.
    EndVariable,
    /// `%}`, closing a tag.
    EndTag,
}

/// Words tera reads as operators or literals, never as a variable's name.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "true", "false", "True", "False", "loop",
];

impl<'s> Parser<'s> {
    /// Nodes up to the end of the input or the next `elif`, `else`,
    /// `endif` or `endfor` tag.
    fn nodes(&mut self) -> Option<(Vec<Node>, End)> {
        let mut nodes = Vec::new();
        loop {
            let text_end = next_tag(self.rest);
            if text_end > 0 {
                nodes.push(Node::Text(self.rest[..text_end].to_string()));
                self.rest = &self.rest[text_end..];
            }
            if self.rest.is_empty() {
                return Some((nodes, End::Eof));
            }
            let opener = &self.rest[..2];
            self.rest = &self.rest[2..];
            match opener {
                "{{" => nodes.push(Node::VariableBlock(WS::default(), self.variable()?)),
                "{%" => match self.tag()? {
                    Tagged::Node(node) => nodes.push(node),
                    Tagged::End(end) => return Some((nodes, end)),
                },
                _ => return None, // `{#`: comments go to tera
            }
        }
    }

    /// After `{{`: a name with filters, then `}}`.
    fn variable(&mut self) -> Option<Expr> {
        let first = self.token()?;
        let expr = self.filtered(first)?;
        (self.token()? == Token::EndVariable).then_some(expr)
    }

    /// After `{%`: the tag, and for `if` and `for` their whole body.
    fn tag(&mut self) -> Option<Tagged> {
        let Token::Word(word) = self.token()? else {
            return None;
        };
        let tagged = match word {
            "if" => Tagged::Node(self.if_block()?),
            "for" => Tagged::Node(self.for_block()?),
            "elif" => Tagged::End(End::Elif(self.condition()?)),
            "else" => Tagged::End(self.shut_tag(End::Else)?),
            "endif" => Tagged::End(self.shut_tag(End::If)?),
            "endfor" => Tagged::End(self.shut_tag(End::For)?),
            _ => return None,
        };
        Some(tagged)
    }

    fn shut_tag(&mut self, end: End) -> Option<End> {
        (self.token()? == Token::EndTag).then_some(end)
    }

    /// After `{% if`: the condition, the branches, up to `{% endif %}`.
    fn if_block(&mut self) -> Option<Node> {
        let mut condition = self.condition()?;
        let mut conditions = Vec::new();
        loop {
            let (body, end) = self.nodes()?;
            match end {
                End::Elif(next) => {
                    conditions.push((WS::default(), condition, body));
                    condition = next;
                }
                End::Else => {
                    conditions.push((WS::default(), condition, body));
                    let (otherwise, end) = self.nodes()?;
                    let End::If = end else { return None };
                    let branches = If {
                        conditions,
                        otherwise: Some((WS::default(), otherwise)),
                    };
                    return Some(Node::If(branches, WS::default()));
                }
                End::If => {
                    conditions.push((WS::default(), condition, body));
                    let branches = If {
                        conditions,
                        otherwise: None,
                    };
                    return Some(Node::If(branches, WS::default()));
                }
                End::Eof | End::For => return None,
            }
        }
    }

    /// `name`, `not name`, `name is [not] test`, `name == "text"` or
    /// `name != "text"`, then `%}`.
    fn condition(&mut self) -> Option<Expr> {
        let mut token = self.token()?;
        let negated = token == Token::Word("not");
        if negated {
            token = self.token()?;
        }
        let Token::Word(name) = token else {
            return None;
        };
        let name = variable_name(name)?;
        let expr = match (self.token()?, negated) {
            (Token::EndTag, _) => Expr {
                val: ExprVal::Ident(name.into()),
                negated,
                filters: Vec::new(),
            },
            (Token::Word("is"), false) => {
                let mut test_negated = false;
                let mut test = self.token()?;
                if test == Token::Word("not") {
                    test_negated = true;
                    test = self.token()?;
                }
                let Token::Word(test) = test else { return None };
                if KEYWORDS.contains(&test) || test.contains('.') || self.token()? != Token::EndTag
                {
                    return None;
                }
                Expr::new(ExprVal::Test(Test {
                    ident: name.into(),
                    negated: test_negated,
                    name: test.into(),
                    args: Vec::new(),
                }))
            }
            (op @ (Token::Eq | Token::NotEq), false) => {
                let Token::Str(text) = self.token()? else {
                    return None;
                };
                if self.token()? != Token::EndTag {
                    return None;
                }
                let operator = if op == Token::Eq {
                    LogicOperator::Eq
                } else {
                    LogicOperator::NotEq
                };
                Expr::new(ExprVal::Logic(LogicExpr {
                    lhs: Box::new(Expr::new(ExprVal::Ident(name.into()))),
                    rhs: Box::new(Expr::new(ExprVal::String(text.into()))),
                    operator,
                }))
            }
            _ => return None,
        };
        Some(expr)
    }

    /// After `{% for`: `x in list %}`, the body, up to `{% endfor %}`.
    fn for_block(&mut self) -> Option<Node> {
        let Token::Word(value) = self.token()? else {
            return None;
        };
        if KEYWORDS.contains(&value) || value.contains('.') {
            return None;
        }
        if self.token()? != Token::Word("in") {
            return None;
        }
        let Token::Word(list) = self.token()? else {
            return None;
        };
        let list = variable_name(list)?;
        if self.token()? != Token::EndTag {
            return None;
        }
        let (body, end) = self.nodes()?;
        let End::For = end else { return None };
        let forloop = Forloop {
            key: None,
            value: value.into(),
            container: Expr::new(ExprVal::Ident(list.into())),
            body,
            empty_body: None,
        };
        Some(Node::Forloop(WS::default(), forloop, WS::default()))
    }

    /// `name | f | g(key=value, ...)`, starting with the name's token; the
    /// token after it must be the closing one.
    fn filtered(&mut self, first: Token<'s>) -> Option<Expr> {
        let Token::Word(name) = first else {
            return None;
        };
        let mut expr = Expr::new(ExprVal::Ident(variable_name(name)?.into()));
        while self.peek()? == Token::Pipe {
            self.token()?;
            let Token::Word(filter) = self.token()? else {
                return None;
            };
            if KEYWORDS.contains(&filter) || filter.contains('.') {
                return None;
            }
            let mut args = HashMap::new();
            if self.peek()? == Token::Open {
                self.token()?;
                loop {
                    let Token::Word(key) = self.token()? else {
                        return None;
                    };
                    if KEYWORDS.contains(&key)
                        || key.contains('.')
                        || self.token()? != Token::Assign
                    {
                        return None;
                    }
                    let value = match self.token()? {
                        Token::Str(s) => ExprVal::String(s.into()),
                        Token::Int(n) => ExprVal::Int(n),
                        Token::Word("true") => ExprVal::Bool(true),
                        Token::Word("false") => ExprVal::Bool(false),
                        _ => return None,
                    };
                    if args.insert(key.to_string(), Expr::new(value)).is_some() {
                        return None;
                    }
                    match self.token()? {
                        Token::Comma => continue,
                        Token::Close => break,
                        _ => return None,
                    }
                }
            }
            expr.filters.push(FunctionCall {
                name: filter.into(),
                args,
            });
        }
        Some(expr)
    }

    fn peek(&mut self) -> Option<Token<'s>> {
        let saved = self.rest;
        let token = self.token();
        self.rest = saved;
        token
    }

    /// The next token inside a tag; `None` for anything outside the subset.
    fn token(&mut self) -> Option<Token<'s>> {
        self.rest = self.rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let s = self.rest;
        let b = s.as_bytes();
        let (token, len) = match *b.first()? {
            b'}' if b.get(1) == Some(&b'}') => (Token::EndVariable, 2),
            b'%' if b.get(1) == Some(&b'}') => (Token::EndTag, 2),
            b'|' => (Token::Pipe, 1),
            b'(' => (Token::Open, 1),
            b')' => (Token::Close, 1),
            b',' => (Token::Comma, 1),
            b'=' if b.get(1) == Some(&b'=') => (Token::Eq, 2),
            b'=' => (Token::Assign, 1),
            b'!' if b.get(1) == Some(&b'=') => (Token::NotEq, 2),
            q @ (b'"' | b'\'' | b'`') => {
                let close = s[1..].find(q as char)?;
                (Token::Str(&s[1..1 + close]), close + 2)
            }
            b'0'..=b'9' => {
                let len = b.iter().take_while(|c| c.is_ascii_digit()).count();
                // `1.5`, `1e3`, `1x`: not an integer of ours.
                if b.get(len)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
                {
                    return None;
                }
                (Token::Int(s[..len].parse().ok()?), len)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len = b
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
                    .count();
                (Token::Word(&s[..len]), len)
            }
            _ => return None,
        };
        self.rest = &s[len..];
        Some(token)
    }
}

/// A variable's dotted name as tera's `dotted_ident` reads it (`a.b`,
/// `loop.index`, `a.0`), not a keyword, no empty part.
fn variable_name(name: &str) -> Option<&str> {
    let first = name.split('.').next()?;
    if KEYWORDS.contains(&name) || (KEYWORDS.contains(&first) && first != "loop") {
        return None;
    }
    let starts_well = first
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_');
    (starts_well && name.split('.').all(|part| !part.is_empty())).then_some(name)
}

/// Where the text before the next `{{`, `{%` or `{#` ends.
fn next_tag(s: &str) -> usize {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'{', &b[from..]) {
        let at = from + i;
        if matches!(b.get(at + 1), Some(b'{' | b'%' | b'#')) {
            return at;
        }
        from = at + 1;
    }
    s.len()
}

enum Tagged {
    Node(Node),
    End(End),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tera_ast(source: &str) -> Option<Vec<Node>> {
        tera::Template::new("t.txt", None, source)
            .ok()
            .map(|t| t.ast)
    }

    #[track_caller]
    fn same_as_tera(source: &str) {
        let ours = parse(source).unwrap_or_else(|| panic!("not parsed: {source:?}"));
        assert_eq!(Some(ours), tera_ast(source), "{source:?}");
    }

    #[test]
    fn every_built_in_template_parses_as_tera_parses_it() {
        let all = crate::outbound::BUILTIN
            .iter()
            .chain(crate::outbound::BUILTIN_REPLIES);
        let mut n = 0;
        for (name, source) in all {
            let ours = parse(source).unwrap_or_else(|| panic!("{name} not parsed"));
            assert_eq!(Some(ours), tera_ast(source), "{name}");
            n += 1;
        }
        assert!(n >= 50, "{n} templates");
    }

    #[test]
    fn the_subset_parses_as_tera_parses_it() {
        for source in [
            "",
            "plain text with { and } and % and #",
            "{{ a }}",
            "{{a}}{{ b.c }}{{ loop.index }}",
            "x {{ a | upper }} y",
            "{{ a | join(sep=\", \") | indent(prefix='  ', first=true) }}",
            "{{ a | truncate(length=10) }}",
            "{% if a %}1{% endif %}",
            "{% if not a %}1{% else %}2{% endif %}",
            "{% if a is defined %}{% if a is not defined %}{% endif %}{% endif %}",
            "{% if a == \"x\" %}1{% elif a != `y` %}2{% elif b %}3{% else %}4{% endif %}",
            "{% for s in list %}{{ loop.index }}. {{ s.title }}{% endfor %}",
            "{%if a%}{{a}}{%endif%}",
            "\r\n{% if a %}\r\n{{ a }}\r\n{% endif %}\r\n",
            "中文 {{ 名 }}",
        ] {
            if source.contains('名') {
                // tera's identifiers are ASCII; neither parser takes it.
                assert_eq!(parse(source), None);
                assert_eq!(tera_ast(source), None);
                continue;
            }
            same_as_tera(source);
        }
    }

    #[test]
    fn the_rest_goes_to_tera() {
        for source in [
            "{# a comment #}",
            "{{- a }}",
            "{{ a -}}",
            "{%- if a %}{% endif %}",
            "{{ a + 1 }}",
            "{{ a[0] }}",
            "{{ \"x\" }}",
            "{{ a ~ b }}",
            "{% if a and b %}{% endif %}",
            "{% if a > 1 %}{% endif %}",
            "{% for k, v in m %}{% endfor %}",
            "{% for x in xs %}{% else %}{% endfor %}",
            "{% set x = 1 %}",
            "{% raw %}{{ x }}{% endraw %}",
            "{% if a %}",
            "{% endif %}",
            "{{ a }",
            "{{ a %}",
            "{% if a }}{% endif %}",
            "{{ a | f(x=1, x=2) }}",
            "{{ true }}",
        ] {
            assert_eq!(parse(source), None, "{source:?}");
        }
    }

    const LEAVES: &[&str] = &[
        "text ",
        "\n",
        "\r\n",
        "{",
        "}",
        "%",
        "#",
        "-",
        " {x} ",
        "{{ a }}",
        "{{b.c}}",
        "{{ a | upper }}",
        "{{ a | join(sep=\", \") }}",
        "{{ a | indent(prefix=' ', first=true) }}",
        "{{ a | truncate(length=3) | lower }}",
        "{{ loop.index }}",
        "{{ 1 }}",
        "{{ a. }}",
        "{{ and }}",
        "{{- a -}}",
        "{# c #}",
        "{{ a b }}",
        "{{ }}",
        "}}",
        "%}",
    ];
    const CONDITIONS: &[&str] = &[
        "a",
        "not b",
        "c is defined",
        "c is not defined",
        "a == \"x\"",
        "a != 'y'",
        "x.y",
        "a and b",
        "not",
        "a is",
        "a == b",
    ];

    /// Templates built as trees, so that most are whole (an `if` has its
    /// `endif`) and reach past the first tag; a few pieces are broken.
    fn template() -> impl Strategy<Value = String> {
        let leaf = proptest::sample::select(LEAVES).prop_map(str::to_string);
        leaf.prop_recursive(4, 48, 4, |inner| {
            let body = proptest::collection::vec(inner, 0..4).prop_map(|v| v.concat());
            let cond = proptest::sample::select(CONDITIONS);
            prop_oneof![
                (
                    cond.clone(),
                    body.clone(),
                    proptest::option::of((cond, body.clone())),
                    proptest::option::of(body.clone())
                )
                    .prop_map(|(c, then, elif, otherwise)| {
                        let mut s = format!("{{% if {c} %}}{then}");
                        if let Some((c, b)) = elif {
                            s += &format!("{{% elif {c} %}}{b}");
                        }
                        if let Some(b) = otherwise {
                            s += &format!("{{% else %}}{b}");
                        }
                        s + "{% endif %}"
                    }),
                body.clone()
                    .prop_map(|b| format!("{{% for s in xs %}}{b}{{% endfor %}}")),
                body,
            ]
        })
    }

    proptest! {
        /// Whatever ours reads, tera reads the same way.
        #[test]
        fn what_ours_reads_tera_reads_alike(source in template()) {
            if let Some(ours) = parse(&source) {
                prop_assert_eq!(Some(ours), tera_ast(&source), "{:?}", source);
            }
        }
    }
}
