//! The synthetic backlog: N support mails from a fixed seed, and what postdesk
//! must make of them (tickets, replies, acknowledgements), so a run can tell a
//! lost or duplicated message from a slow one.
//!
//! The mix follows the issue: new requests about half, requester replies a
//! fifth (by `[#N]` tag or by In-Reply-To), HTML-only mail from Outlook, a few
//! attachments of a few hundred KB, Chinese mail in GBK from Foxmail, and
//! automatic mail (out-of-office, bounces, monitoring) that must never be
//! answered. Mail is built the way the clients named write it: Received
//! chains, quoted-printable HTML, base64 GBK, encoded-word subjects.

use std::collections::BTreeMap;

use crate::support::{base64, encode_word, rfc5322_date};

/// A small, fast, seedable generator (SplitMix64): the same seed gives the
/// same corpus on every machine, with no crate needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What kind of mail a corpus message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// A new request in plain text (English).
    Request,
    /// A requester's reply carrying our `[#N]` tag in the subject.
    ReplyByTag,
    /// A reply found only through In-Reply-To/References.
    ReplyByReference,
    /// A new request with only an HTML body (Outlook).
    HtmlOnly,
    /// A new request with an attachment of a few hundred KB.
    Attachment,
    /// A new request in Chinese, GBK-encoded (Foxmail).
    Gbk,
    /// An out-of-office answer to one of our acknowledgements.
    OutOfOffice,
    /// A delivery-status report from a mailer daemon.
    Bounce,
    /// A monitoring alert (`Auto-Submitted: auto-generated`, `Precedence: bulk`).
    Alert,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Request,
        Category::ReplyByTag,
        Category::ReplyByReference,
        Category::HtmlOnly,
        Category::Attachment,
        Category::Gbk,
        Category::OutOfOffice,
        Category::Bounce,
        Category::Alert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Request => "request",
            Category::ReplyByTag => "reply-by-tag",
            Category::ReplyByReference => "reply-by-reference",
            Category::HtmlOnly => "html-only",
            Category::Attachment => "attachment",
            Category::Gbk => "gbk",
            Category::OutOfOffice => "out-of-office",
            Category::Bounce => "bounce",
            Category::Alert => "alert",
        }
    }
}

/// What the daemon must produce from the whole corpus.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Tickets created (every mail that does not join an existing ticket).
    pub tickets: u64,
    /// Inbound messages recorded with kind `request`, `reply`, `automatic`.
    pub requests: u64,
    pub replies: u64,
    pub automatic: u64,
    /// Inbound messages recorded without a ticket (`ignored`): bounces
    /// about no mail of ours.
    pub ignored: u64,
    /// Acknowledgements queued and sent (one per new ticket from a person).
    pub acks: u64,
    /// Acknowledgements per requester address.
    pub acks_to: BTreeMap<String, u64>,
    /// The ticket each mail must be on, by Message-ID (without `<>`): the
    /// new ticket's number for a request or an alert, the answered ticket's
    /// for a reply or an out-of-office. Bounces are on none.
    pub ticket_of: BTreeMap<String, i64>,
    /// The Message-IDs of the replies (by tag and by reference), to report
    /// a reply on the wrong ticket apart from a request.
    pub replies_ids: Vec<String>,
}

/// The generated backlog.
pub struct Corpus {
    pub messages: Vec<Vec<u8>>,
    pub categories: Vec<Category>,
    pub expect: Expect,
    pub bytes: u64,
}

impl Corpus {
    pub fn count(&self, c: Category) -> usize {
        self.categories.iter().filter(|&&x| x == c).count()
    }

    /// The first message of a category, if the corpus has one.
    pub fn first_of(&self, c: Category) -> Option<&[u8]> {
        self.categories
            .iter()
            .position(|&x| x == c)
            .map(|i| self.messages[i].as_slice())
    }
}

/// Addresses for one run: the desk and a pool of requesters.
pub struct Names {
    pub desk: String,
    /// `r<i>-<tag>@<domain>`: the tag keeps runs apart in the mail server.
    pub tag: String,
    pub domain: String,
    pub requesters: usize,
}

impl Names {
    pub fn requester(&self, i: usize) -> String {
        format!("r{i}-{}@{}", self.tag, self.domain)
    }
}

/// A ticket that later mail may answer.
struct Open {
    number: i64,
    message_id: String,
    subject: Subject,
    requester: usize,
}

#[derive(Clone)]
enum Subject {
    Ascii(String),
    Gbk(Vec<u8>),
}

/// Generates `n` messages. Ticket numbers are predicted from
/// `first_ticket`, because the daemon processes mail in UID order, which
/// is the order here.
pub fn generate(n: usize, seed: u64, names: &Names, first_ticket: i64) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut messages = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    let mut expect = Expect::default();
    let mut open: Vec<Open> = Vec::new();
    let mut next_ticket = first_ticket;
    let base_time: u64 = 1_795_000_000;
    for i in 0..n {
        let date = rfc5322_date(base_time + i as u64 * 37);
        let roll = rng.below(100);
        let mut cat = match roll {
            0..50 => Category::Request,
            50..60 => Category::ReplyByTag,
            60..70 => Category::ReplyByReference,
            70..78 => Category::HtmlOnly,
            78..80 => Category::Attachment,
            80..95 => Category::Gbk,
            95..97 => Category::OutOfOffice,
            97..99 => Category::Bounce,
            _ => Category::Alert,
        };
        let needs_ticket = matches!(
            cat,
            Category::ReplyByTag | Category::ReplyByReference | Category::OutOfOffice
        );
        if needs_ticket && open.is_empty() {
            cat = if cat == Category::OutOfOffice {
                Category::Alert
            } else {
                Category::Request
            };
        }
        let requester = rng.below(names.requesters as u64) as usize;
        let from = names.requester(requester);
        let id = format!(
            "{i:07}.{:012x}@{}",
            rng.next_u64() >> 16,
            client_domain(cat)
        );
        let ctx = Ctx {
            id: &id,
            date: &date,
            desk: &names.desk,
        };
        // The ticket a reply or an out-of-office answers.
        let mut answered: Option<i64> = None;
        let raw = match cat {
            Category::Request => {
                let subject = rng.pick(SUBJECTS).to_string();
                let raw = request(&mut rng, &ctx, &from, &subject);
                open.push(Open {
                    number: next_ticket,
                    message_id: id.clone(),
                    subject: Subject::Ascii(subject),
                    requester,
                });
                raw
            }
            Category::HtmlOnly => {
                let subject = rng.pick(SUBJECTS).to_string();
                let raw = html_only(&mut rng, &ctx, &from, &subject);
                open.push(Open {
                    number: next_ticket,
                    message_id: id.clone(),
                    subject: Subject::Ascii(subject),
                    requester,
                });
                raw
            }
            Category::Attachment => {
                let subject = rng.pick(SUBJECTS).to_string();
                let raw = with_attachment(&mut rng, &ctx, &from, &subject, i);
                open.push(Open {
                    number: next_ticket,
                    message_id: id.clone(),
                    subject: Subject::Ascii(subject),
                    requester,
                });
                raw
            }
            Category::Gbk => {
                let subject = rng.pick(GBK_SUBJECTS).to_vec();
                let raw = gbk(&mut rng, &ctx, &from, &subject);
                open.push(Open {
                    number: next_ticket,
                    message_id: id.clone(),
                    subject: Subject::Gbk(subject),
                    requester,
                });
                raw
            }
            Category::ReplyByTag | Category::ReplyByReference | Category::OutOfOffice => {
                // Replies come mostly to recent tickets, as in a real queue.
                let window = open.len().min(2000);
                let t = &open[open.len() - 1 - rng.below(window as u64) as usize];
                answered = Some(t.number);
                let from = names.requester(t.requester);
                match cat {
                    Category::ReplyByTag => reply_by_tag(&mut rng, &ctx, &from, t),
                    Category::ReplyByReference => reply_by_reference(&mut rng, &ctx, &from, t),
                    _ => out_of_office(&ctx, &from, t),
                }
            }
            Category::Bounce => bounce(&mut rng, &ctx, &from),
            Category::Alert => alert(&mut rng, &ctx),
        };
        match cat {
            Category::Request
            | Category::HtmlOnly
            | Category::Attachment
            | Category::Gbk
            | Category::Alert => {
                expect.ticket_of.insert(id.clone(), next_ticket);
            }
            Category::ReplyByTag | Category::ReplyByReference | Category::OutOfOffice => {
                expect.ticket_of.insert(id.clone(), answered.unwrap_or(0));
                if cat != Category::OutOfOffice {
                    expect.replies_ids.push(id.clone());
                }
            }
            Category::Bounce => {}
        }
        match cat {
            Category::Request | Category::HtmlOnly | Category::Attachment | Category::Gbk => {
                expect.tickets += 1;
                expect.requests += 1;
                expect.acks += 1;
                *expect.acks_to.entry(from.clone()).or_default() += 1;
                next_ticket += 1;
            }
            Category::ReplyByTag | Category::ReplyByReference => expect.replies += 1,
            Category::OutOfOffice => expect.automatic += 1,
            // A delivery report that names no mail of ours joins nothing and
            // opens nothing.
            Category::Bounce => expect.ignored += 1,
            Category::Alert => {
                expect.tickets += 1;
                expect.automatic += 1;
                next_ticket += 1;
            }
        }
        messages.push(raw);
        categories.push(cat);
    }
    let bytes = messages.iter().map(|m| m.len() as u64).sum();
    Corpus {
        messages,
        categories,
        expect,
        bytes,
    }
}

fn client_domain(c: Category) -> &'static str {
    match c {
        Category::Gbk => "foxmail.test",
        Category::HtmlOnly => "outlook.corp.test",
        Category::Bounce => "mx.example.test",
        Category::Alert => "monitor.corp.test",
        _ => "mail.corp.test",
    }
}

struct Ctx<'a> {
    id: &'a str,
    date: &'a str,
    desk: &'a str,
}

/// Header lines as a mail crossing two or three relays carries them.
fn received_chain(rng: &mut Rng, date: &str) -> String {
    let mut s = String::new();
    for hop in 0..rng.range(2, 4) {
        s.push_str(&format!(
            "Received: from relay{hop}.corp.test (relay{hop}.corp.test [10.{}.{}.{}])\r\n\tby mx{}.example.test (Postfix) with ESMTPS id {:010X}\r\n\tfor <helpdesk@example.test>; {date}\r\n",
            rng.below(250),
            rng.below(250),
            rng.below(250),
            rng.below(4),
            rng.next_u64() >> 24,
        ));
    }
    s.push_str(&format!(
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=corp.test; s=sel1;\r\n\th=from:to:subject:date:message-id; bh={};\r\n\tb={}\r\n",
        base64(&rng.next_u64().to_le_bytes()).repeat(3),
        base64(&(0..24).flat_map(|_| rng.next_u64().to_le_bytes()).collect::<Vec<u8>>()),
    ));
    s
}

fn sentences(rng: &mut Rng, lo: u64, hi: u64) -> String {
    let mut body = String::new();
    for _ in 0..rng.range(lo, hi) {
        body.push_str(rng.pick(SENTENCES));
        body.push(if rng.chance(30) { '\n' } else { ' ' });
    }
    body
}

fn signature(rng: &mut Rng, from: &str) -> String {
    let name = from.split('@').next().unwrap_or(from);
    format!(
        "\n--\n{name}\n{}\nPhone +86 21 5555 {:04}\n",
        rng.pick(DEPARTMENTS),
        rng.below(10_000)
    )
}

fn headers(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    ctx: &Ctx<'_>,
    from: &str,
    subject_header: &[u8],
    extra: &str,
) {
    out.extend_from_slice(received_chain(rng, ctx.date).as_bytes());
    out.extend_from_slice(format!("From: {from}\r\nTo: IT Desk <{}>\r\n", ctx.desk).as_bytes());
    out.extend_from_slice(b"Subject: ");
    out.extend_from_slice(subject_header);
    out.extend_from_slice(
        format!(
            "\r\nDate: {}\r\nMessage-ID: <{}>\r\n{extra}MIME-Version: 1.0\r\n",
            ctx.date, ctx.id
        )
        .as_bytes(),
    );
}

fn request(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, subject: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mailer = rng.pick(MAILERS);
    let display = format!("{} <{from}>", rng.pick(NAMES));
    headers(
        &mut out,
        rng,
        ctx,
        &display,
        subject.as_bytes(),
        &format!("X-Mailer: {mailer}\r\n"),
    );
    out.extend_from_slice(
        b"Content-Type: text/plain; charset=\"utf-8\"; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    let body = format!(
        "Hello,\n\n{}\n\n{}\nThanks,{}",
        sentences(rng, 3, 10),
        sentences(rng, 1, 4),
        signature(rng, from)
    );
    out.extend_from_slice(crlf(&body).as_bytes());
    out
}

fn html_only(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, subject: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let display = format!("\"{}\" <{from}>", rng.pick(NAMES));
    headers(
        &mut out,
        rng,
        ctx,
        &display,
        subject.as_bytes(),
        "Thread-Topic: request\r\nThread-Index: AdlZ3c0xOWQ1NjY3ZA==\r\nX-MS-Has-Attach: \r\nX-MS-TNEF-Correlator: \r\nContent-Language: en-US\r\n",
    );
    out.extend_from_slice(
        b"Content-Type: text/html; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    let mut html = String::from(
        "<html xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head>\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=us-ascii\"><meta name=\"Generator\" content=\"Microsoft Word 15 (filtered medium)\">\
<style><!--\n/* Font Definitions */\n@font-face {font-family:\"Cambria Math\"; panose-1:2 4 5 3 5 4 6 3 2 4;}\n\
@font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;}\n\
p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\n\
a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1; text-decoration:underline;}\n\
span.EmailStyle17 {mso-style-type:personal-compose; font-family:\"Calibri\",sans-serif; color:windowtext;}\n\
.MsoChpDefault {mso-style-type:export-only; font-family:\"Calibri\",sans-serif;}\n\
@page WordSection1 {size:612.0pt 792.0pt; margin:72.0pt 72.0pt 72.0pt 72.0pt;}\n\
div.WordSection1 {page:WordSection1;}\n--></style></head><body lang=\"EN-US\" link=\"#0563C1\" vlink=\"#954F72\" style=\"word-wrap:break-word\">\
<div class=\"WordSection1\"><p class=\"MsoNormal\">Hi team,<o:p></o:p></p><p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>",
    );
    for _ in 0..rng.range(3, 9) {
        html.push_str(&format!(
            "<p class=\"MsoNormal\">{}<o:p></o:p></p>",
            sentences(rng, 1, 3).trim()
        ));
    }
    html.push_str(&format!(
        "<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p><p class=\"MsoNormal\">Best regards,<o:p></o:p></p>\
<p class=\"MsoNormal\"><b><span style=\"color:#1F3864\">{}</span></b><o:p></o:p></p>\
<p class=\"MsoNormal\"><span style=\"font-size:9.0pt;color:gray\">{} | <a href=\"mailto:{from}\">{from}</a></span><o:p></o:p></p>\
</div></body></html>\n",
        rng.pick(NAMES),
        rng.pick(DEPARTMENTS)
    ));
    out.extend_from_slice(quoted_printable(html.as_bytes()).as_bytes());
    out
}

fn with_attachment(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, subject: &str, i: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let display = format!("{} <{from}>", rng.pick(NAMES));
    headers(&mut out, rng, ctx, &display, subject.as_bytes(), "");
    let boundary = format!("----=_Part_{i}_{:x}", rng.next_u64());
    out.extend_from_slice(
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n").as_bytes(),
    );
    let body = format!(
        "Hi,\n\n{}\nThe screenshot is attached.\n{}",
        sentences(rng, 2, 5),
        signature(rng, from)
    );
    out.extend_from_slice(crlf(&body).as_bytes());
    let (name, ctype) = rng.pick(&[
        ("screenshot.png", "image/png"),
        ("error-log.zip", "application/zip"),
        ("invoice.pdf", "application/pdf"),
    ]);
    let size = rng.range(150_000, 400_000) as usize;
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        data.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    data.truncate(size);
    out.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").as_bytes(),
    );
    for chunk in base64(&data).as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn gbk(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, subject: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let name = encode_word("gb2312", rng.pick(GBK_NAMES));
    headers(
        &mut out,
        rng,
        ctx,
        &format!("\"{name}\" <{from}>"),
        encode_word("gb2312", subject).as_bytes(),
        "X-Mailer: Foxmail 7.2.25.228[cn]\r\nX-Priority: 3\r\n",
    );
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice(GBK_HELLO);
    body.extend_from_slice(b"\r\n\r\n");
    for _ in 0..rng.range(2, 6) {
        body.extend_from_slice(rng.pick(GBK_SENTENCES));
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(GBK_MY_ID);
    body.extend_from_slice(format!("{:06}\r\n\r\n", rng.below(1_000_000)).as_bytes());
    body.extend_from_slice(GBK_REGARDS);
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(rng.pick(GBK_NAMES));
    body.extend_from_slice(b"\r\n");
    if rng.chance(60) {
        // Foxmail: GB2312 declared, GBK bytes, base64.
        out.extend_from_slice(
            b"Content-Type: text/plain; charset=\"gb2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        for chunk in base64(&body).as_bytes().chunks(76) {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    } else {
        out.extend_from_slice(
            b"Content-Type: text/plain; charset=\"GBK\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        out.extend_from_slice(&body);
    }
    out
}

fn reply_headers(t: &Open) -> String {
    format!(
        "In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
        t.message_id, t.message_id
    )
}

fn reply_by_tag(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, t: &Open) -> Vec<u8> {
    let mut out = Vec::new();
    // The tag is what threads this one: the client answered our
    // acknowledgement, whose Message-ID the corpus cannot know.
    let subject: Vec<u8> = match &t.subject {
        Subject::Ascii(s) => {
            let prefix = rng.pick(&["Re: ", "RE: ", "AW: ", "Re[2]: "]);
            format!("{prefix}[#{}] {s}", t.number).into_bytes()
        }
        Subject::Gbk(s) => {
            let mut v = GBK_REPLY_PREFIX.to_vec();
            v.extend_from_slice(format!("[#{}] ", t.number).as_bytes());
            v.extend_from_slice(s);
            encode_word("gbk", &v).into_bytes()
        }
    };
    headers(&mut out, rng, ctx, from, &subject, "");
    out.extend_from_slice(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    let body = format!(
        "{}\n\nOn Mon, 2 Nov 2026 at 09:12, IT Desk <{}> wrote:\n> Thank you for contacting the IT Service Desk.\n> We have received your request and created ticket [#{}].\n> {}\n",
        sentences(rng, 1, 4),
        ctx.desk,
        t.number,
        sentences(rng, 1, 2).trim(),
    );
    out.extend_from_slice(crlf(&body).as_bytes());
    out
}

fn reply_by_reference(rng: &mut Rng, ctx: &Ctx<'_>, from: &str, t: &Open) -> Vec<u8> {
    let mut out = Vec::new();
    // No tag: a colleague answered the original mail, or the client dropped it.
    let subject: Vec<u8> = match &t.subject {
        Subject::Ascii(s) => format!("Re: {s}").into_bytes(),
        Subject::Gbk(s) => {
            let mut v = GBK_REPLY_PREFIX.to_vec();
            v.extend_from_slice(s);
            encode_word("gbk", &v).into_bytes()
        }
    };
    headers(&mut out, rng, ctx, from, &subject, &reply_headers(t));
    out.extend_from_slice(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    let body = format!(
        "Any news on this one?\n{}\n\n> {}\n",
        sentences(rng, 0, 2),
        sentences(rng, 1, 3).trim()
    );
    out.extend_from_slice(crlf(&body).as_bytes());
    out
}

fn out_of_office(ctx: &Ctx<'_>, from: &str, t: &Open) -> Vec<u8> {
    let subject = match &t.subject {
        Subject::Ascii(s) => format!("Automatic reply: [#{}] {s}", t.number),
        Subject::Gbk(_) => format!("Automatic reply: [#{}]", t.number),
    };
    format!(
        "Received: from mail.corp.test by mx1.example.test (Postfix); {date}\r\n\
From: {from}\r\nTo: IT Desk <{desk}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n\
Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
I am out of the office until Monday with limited access to e-mail.\r\nFor urgent matters please call the front desk.\r\n",
        date = ctx.date,
        desk = ctx.desk,
        id = ctx.id,
    )
    .into_bytes()
}

fn bounce(rng: &mut Rng, ctx: &Ctx<'_>, from: &str) -> Vec<u8> {
    let boundary = format!("{:X}.1795000000/mx.example.test", rng.next_u64() >> 20);
    format!(
        "Received: by mx.example.test (Postfix) id 4Z{q:X}; {date}\r\n\
From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\nTo: {desk}\r\n\
Subject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n\
Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n\
This is a MIME-encapsulated message.\r\n\r\n--{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
This is the mail system at host mx.example.test.\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n<{from}>: host mail.corp.test said: 550 5.1.1 mailbox unavailable\r\n\r\n\
--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.test\r\n\r\nFinal-Recipient: rfc822; {from}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--{boundary}--\r\n",
        q = rng.next_u64() >> 28,
        date = ctx.date,
        desk = ctx.desk,
        id = ctx.id,
    )
    .into_bytes()
}

fn alert(rng: &mut Rng, ctx: &Ctx<'_>) -> Vec<u8> {
    let host = format!("srv{:03}", rng.below(200));
    format!(
        "Received: from monitor.corp.test by mx1.example.test (Postfix); {date}\r\n\
From: Nagios <nagios@monitor.corp.test>\r\nTo: {desk}\r\nSubject: ** PROBLEM Service Alert: {host}/Disk is CRITICAL **\r\n\
Date: {date}\r\nMessage-ID: <{id}>\r\nAuto-Submitted: auto-generated\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\n\
***** Nagios *****\r\n\r\nNotification Type: PROBLEM\r\n\r\nService: Disk\r\nHost: {host}\r\nState: CRITICAL\r\n\r\n\
Info: DISK CRITICAL - free space: / {free} MB ({pct}% inode=92%)\r\n",
        date = ctx.date,
        desk = ctx.desk,
        id = ctx.id,
        free = rng.below(900),
        pct = rng.below(5),
    )
    .into_bytes()
}

/// LF → CRLF.
fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// Quoted-printable (RFC 2045) with soft line breaks at 76 columns.
fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 11 / 10);
    let mut col = 0;
    for &b in bytes {
        if b == b'\n' {
            out.push_str("\r\n");
            col = 0;
            continue;
        }
        let enc = if b == b'=' || !(0x20..0x7f).contains(&b) {
            format!("={b:02X}")
        } else {
            (b as char).to_string()
        };
        if col + enc.len() > 75 {
            out.push_str("=\r\n");
            col = 0;
        }
        col += enc.len();
        out.push_str(&enc);
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out
}

const SUBJECTS: &[&str] = &[
    "Printer on floor 3 prints nothing",
    "Cannot connect to VPN from home",
    "Outlook keeps asking for my password",
    "New laptop for the new joiner in Finance",
    "Access to the shared drive \\\\fs01\\projects",
    "Projector in meeting room Everest has no signal",
    "Password expired, please reset",
    "Teams calls drop after a few minutes",
    "Request: install Visio on my PC",
    "Wi-Fi in building B is very slow",
    "Monitor flickers after docking",
    "Cannot open attachments in the ERP",
    "Phone extension 4412 not working",
    "Need a distribution list for the Shanghai office",
    "Blue screen when starting Excel",
    "Please unlock my account",
];

const SENTENCES: &[&str] = &[
    "Since this morning I cannot log in any more.",
    "I already restarted the computer twice but it did not help.",
    "The error message says the connection timed out.",
    "It worked fine until the update last Friday.",
    "Several colleagues in my team have the same problem.",
    "Could you please have a look as soon as possible?",
    "My asset tag is on the sticker under the laptop.",
    "I am working from the Pudong office today.",
    "This is blocking the month-end closing for the finance team.",
    "I tried another cable and another port, same result.",
    "The printer display shows a paper jam, but there is no paper stuck.",
    "When I click connect nothing happens for a minute and then it fails.",
    "I can be reached on my mobile all afternoon.",
    "Please let me know if you need remote access to my machine.",
    "We have an important customer meeting tomorrow at 10:00.",
    "The problem only happens on the wireless network, not on cable.",
];

const NAMES: &[&str] = &[
    "Ann Smith",
    "Bob Miller",
    "Carol Jones",
    "David Chen",
    "Eva Wang",
    "Frank Liu",
    "Grace Zhou",
    "Henry Brown",
];

const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Marketing",
    "Sales Operations",
    "Human Resources",
    "Logistics",
    "Legal",
];

const MAILERS: &[&str] = &[
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3731.700.6)",
    "Mozilla Thunderbird 115.4.1",
];

/// GBK bytes of the Chinese subjects, in order: 打印机坏了, 无法连接VPN,
/// 邮箱登录失败, 电脑开机很慢, 申请新的笔记本电脑, 共享盘权限问题,
/// 会议室投影仪没有信号, 密码过期了，请帮忙重置.
const GBK_SUBJECTS: &[&[u8]] = &[
    b"\xb4\xf2\xd3\xa1\xbb\xfa\xbb\xb5\xc1\xcb",
    b"\xce\xde\xb7\xa8\xc1\xac\xbd\xd3\x56\x50\x4e",
    b"\xd3\xca\xcf\xe4\xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc",
    b"\xb5\xe7\xc4\xd4\xbf\xaa\xbb\xfa\xba\xdc\xc2\xfd",
    b"\xc9\xea\xc7\xeb\xd0\xc2\xb5\xc4\xb1\xca\xbc\xc7\xb1\xbe\xb5\xe7\xc4\xd4",
    b"\xb9\xb2\xcf\xed\xc5\xcc\xc8\xa8\xcf\xde\xce\xca\xcc\xe2",
    b"\xbb\xe1\xd2\xe9\xca\xd2\xcd\xb6\xd3\xb0\xd2\xc7\xc3\xbb\xd3\xd0\xd0\xc5\xba\xc5",
    b"\xc3\xdc\xc2\xeb\xb9\xfd\xc6\xda\xc1\xcb\xa3\xac\xc7\xeb\xb0\xef\xc3\xa6\xd6\xd8\xd6\xc3",
];

/// 请帮忙处理一下，谢谢。 / 今天早上开始就不能用了，重启也没有用。 /
/// 错误提示是：连接超时。 / 附件是截图。 / 这个问题比较急，下午要开会。
const GBK_SENTENCES: &[&[u8]] = &[
    b"\xc7\xeb\xb0\xef\xc3\xa6\xb4\xa6\xc0\xed\xd2\xbb\xcf\xc2\xa3\xac\xd0\xbb\xd0\xbb\xa1\xa3",
    b"\xbd\xf1\xcc\xec\xd4\xe7\xc9\xcf\xbf\xaa\xca\xbc\xbe\xcd\xb2\xbb\xc4\xdc\xd3\xc3\xc1\xcb\xa3\xac\xd6\xd8\xc6\xf4\xd2\xb2\xc3\xbb\xd3\xd0\xd3\xc3\xa1\xa3",
    b"\xb4\xed\xce\xf3\xcc\xe1\xca\xbe\xca\xc7\xa3\xba\xc1\xac\xbd\xd3\xb3\xac\xca\xb1\xa1\xa3",
    b"\xb8\xbd\xbc\xfe\xca\xc7\xbd\xd8\xcd\xbc\xa1\xa3",
    b"\xd5\xe2\xb8\xf6\xce\xca\xcc\xe2\xb1\xc8\xbd\xcf\xbc\xb1\xa3\xac\xcf\xc2\xce\xe7\xd2\xaa\xbf\xaa\xbb\xe1\xa1\xa3",
];

/// 张伟, 李娜, 王芳, 刘洋.
const GBK_NAMES: &[&[u8]] = &[
    b"\xd5\xc5\xce\xb0",
    b"\xc0\xee\xc4\xc8",
    b"\xcd\xf5\xb7\xbc",
    b"\xc1\xf5\xd1\xf3",
];

/// 您好，
const GBK_HELLO: &[u8] = b"\xc4\xfa\xba\xc3\xa3\xac";
/// 我的工号是
const GBK_MY_ID: &[u8] = b"\xce\xd2\xb5\xc4\xb9\xa4\xba\xc5\xca\xc7";
/// 此致 敬礼
const GBK_REGARDS: &[u8] = b"\xb4\xcb\xd6\xc2\r\n\xbe\xb4\xc0\xf1";
/// 回复:  (with the ASCII colon and space Foxmail writes)
const GBK_REPLY_PREFIX: &[u8] = b"\xbb\xd8\xb8\xb4\x3a\x20";
