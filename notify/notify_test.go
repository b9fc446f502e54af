package notify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

// mailCase builds one kind of mail in a language, through the same send
// path the exported methods use.
type mailCase struct {
	kind    string
	to      string
	attach  bool
	subject func(n *Notifier, lang string) string
	build   func(n *Notifier, lang string) *content
	// says is a text of the mail's own, to check its language.
	says string
}

func everyMail() []mailCase {
	tr := testTransfer()
	return []mailCase{
		{kind: kindLoginCode, to: "citizen@example.net", says: "mail.code.intro",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.code.subject") },
			build:   func(n *Notifier, l string) *content { return n.loginCodeContent(l, "12345678") }},
		{kind: kindLock, to: tr.Sender, says: "mail.lock.explain",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.lock.subject", tr.ID) },
			build:   func(n *Notifier, l string) *content { return n.lockContent(l, tr) }},
		{kind: kindReceipt, to: tr.Sender, attach: true, says: "mail.receipt.key",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.receipt.subject", tr.ID) },
			build:   func(n *Notifier, l string) *content { return n.receiptContent(l, tr, fakeSigned) }},
		{kind: kindSenderCopy, to: tr.Sender, says: "mail.copy.intro",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.copy.subject", tr.ID) },
			build:   func(n *Notifier, l string) *content { return n.senderCopyContent(l, tr, "sender-token") }},
		{kind: kindAccount, to: "citizen@example.net", says: "mail.account.keep",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.account.subject", n.cat.Date(l, tr.ExpiresAt)) },
			build: func(n *Notifier, l string) *content {
				return n.accountContent(l, vault.Account{Email: "citizen@example.net"}, tr.ExpiresAt)
			}},
		{kind: kindUnread, to: tr.Sender, says: "mail.unread.advice",
			subject: func(n *Notifier, l string) string { return n.t(l, "mail.unread.subject", tr.ID) },
			build:   func(n *Notifier, l string) *content { return n.unreadContent(l, tr) }},
	}
}

const fakeSigned = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nsealgate download receipt\n\nReference: SG-7K3M-XQ2P\n-----BEGIN PGP SIGNATURE-----\n\nwnUEARYKAB0=\n-----END PGP SIGNATURE-----\n"

// TestEveryMail: each mail, in German and in English, parses, has a
// plain-text and an HTML part in its language, and carries the headers
// every mail of ours must have. Nothing in the HTML is fetched from
// anywhere.
func TestEveryMail(t *testing.T) {
	t.Parallel()
	for _, mc := range everyMail() {
		for _, lang := range []string{"de", "en"} {
			t.Run(mc.kind+"/"+lang, func(t *testing.T) {
				t.Parallel()
				n, s, _ := newTest(t, nil)
				if err := n.send(context.Background(), mc.kind, "", mc.to, mc.build(n, lang)); err != nil {
					t.Fatal(err)
				}
				m := s.only(t)
				if m.from != testFrom || len(m.to) != 1 || m.to[0] != mc.to {
					t.Errorf("envelope %q -> %q", m.from, m.to)
				}
				p := parseMail(t, m.data)
				checkHeaders(t, p, mc.to, lang, mc.subject(n, lang))
				wantTop := "multipart/alternative"
				if mc.attach {
					wantTop = "multipart/mixed"
				}
				if p.topType != wantTop {
					t.Errorf("Content-Type %s, want %s", p.topType, wantTop)
				}
				if p.text == "" || p.html == "" {
					t.Fatalf("text part %d bytes, HTML part %d bytes: both needed", len(p.text), len(p.html))
				}
				says := n.t(lang, mc.says)
				if !strings.Contains(p.text, says) || !strings.Contains(p.html, htmlEscape(says)) {
					t.Errorf("the %s text %q is not in both parts:\n%s", lang, says, p.text)
				}
				if !strings.Contains(p.text, testOrg) || !strings.Contains(p.html, testOrg) {
					t.Error("the organisation is not named")
				}
				if !strings.Contains(p.html, `<html lang="`+lang+`">`) {
					t.Error("the HTML part does not declare its language")
				}
				for _, remote := range []string{"<img", "src=", "<link", "url(", "<script", "@import"} {
					if strings.Contains(strings.ToLower(p.html), remote) {
						t.Errorf("the HTML part has %q: nothing may be fetched or run", remote)
					}
				}
				for _, u := range hrefRE.FindAllStringSubmatch(p.html, -1) {
					if !strings.HasPrefix(u[1], testPublic+"/") {
						t.Errorf("link to %q: only links to web.public_url belong in our mail", u[1])
					}
					if !strings.Contains(p.text, "\n"+strings.ReplaceAll(u[1], "&amp;", "&")+"\r\n") {
						t.Errorf("link %s is not on its own line in the text part", u[1])
					}
				}
			})
		}
	}
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// checkHeaders checks the header every mail of ours has, and that it has
// no other fields.
func checkHeaders(t *testing.T, p parsed, to, lang, subject string) {
	t.Helper()
	from, err := p.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != testFrom || from[0].Name != testOrg {
		t.Errorf("From %q (%v), want %s <%s>", p.header.Get("From"), err, testOrg, testFrom)
	}
	rcpt, err := p.header.AddressList("To")
	if err != nil || len(rcpt) != 1 || rcpt[0].Address != to {
		t.Errorf("To %q (%v), want %s", p.header.Get("To"), err, to)
	}
	if p.subject != subject {
		t.Errorf("Subject %q, want %q", p.subject, subject)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(fixedNow) {
		t.Errorf("Date %q (%v), want %v", p.header.Get("Date"), err, fixedNow)
	}
	if id, err := p.header.MessageID(); err != nil || !strings.HasSuffix(id, "@gate.example.org") || len(id) < len("@gate.example.org")+20 {
		t.Errorf("Message-ID %q (%v), want a random one at notify.from's domain", id, err)
	}
	for k, want := range map[string]string{
		"Auto-Submitted":           "auto-generated",
		"X-Auto-Response-Suppress": "All",
		"Content-Language":         lang,
		"Mime-Version":             "1.0",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	allowed := map[string]bool{"from": true, "to": true, "subject": true, "date": true, "message-id": true,
		"auto-submitted": true, "x-auto-response-suppress": true, "content-language": true,
		"mime-version": true, "content-type": true, "dkim-signature": true}
	fs := p.header.Fields()
	for fs.Next() {
		if !allowed[strings.ToLower(fs.Key())] {
			t.Errorf("unexpected header field %q", fs.Key())
		}
	}
}

// TestLoginCode: the code is in both parts of the body and nowhere else:
// not in the subject, not in any header, not in the log. The language
// follows lang, German unless English was asked for.
func TestLoginCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ lang, want string }{{"en", "en"}, {"en-GB", "en"}, {"de", "de"}, {"fr", "de"}, {"", "de"}} {
		t.Run(tc.lang, func(t *testing.T) {
			t.Parallel()
			n, s, logBuf := newTest(t, nil)
			const code = "73920458"
			if err := n.LoginCode(context.Background(), "citizen@example.net", code, tc.lang); err != nil {
				t.Fatal(err)
			}
			m := s.only(t)
			p := parseMail(t, m.data)
			if !strings.Contains(p.text, "    "+code+"\r\n") {
				t.Errorf("the code is not set apart on its own line in the text part:\n%s", p.text)
			}
			if !strings.Contains(p.html, ">"+code+"<") {
				t.Errorf("the code is not in the HTML part")
			}
			if strings.Contains(decodedHeaderText(p.rawHeader), code) {
				t.Error("the code is in the header")
			}
			if strings.Contains(logBuf.String(), code) {
				t.Error("the code was logged")
			}
			if got := p.header.Get("Content-Language"); got != tc.want {
				t.Errorf("language %q, want %q", got, tc.want)
			}
			if p.subject != n.t(tc.want, "mail.code.subject") {
				t.Errorf("subject %q", p.subject)
			}
			if !strings.Contains(p.text, n.t(tc.want, "mail.code.validity", 10)) {
				t.Error("the validity is not stated")
			}
		})
	}

	n, s, _ := newTest(t, nil)
	for _, bad := range []string{"", "12", "1234 5678", "1234\r\nBcc: x@example.com", "<b>1234</b>"} {
		if err := n.LoginCode(context.Background(), "citizen@example.net", bad, "de"); err == nil {
			t.Errorf("code %q was sent", bad)
		}
	}
	if len(s.all()) != 0 {
		t.Error("a malformed code was sent")
	}
}

// TestSenderCopy: the clerk's copy names the reference, every recipient,
// the files with their sizes, the expiry, and links to the status page in
// full. Without notify.sender_summary it sends nothing.
func TestSenderCopy(t *testing.T) {
	t.Parallel()
	n, s, _ := newTest(t, nil)
	tr := testTransfer()
	if err := n.SenderCopy(context.Background(), tr, "tok_EN-abc123"); err != nil {
		t.Fatal(err)
	}
	m := s.only(t)
	if m.to[0] != tr.Sender {
		t.Errorf("sent to %q, want the clerk", m.to)
	}
	p := parseMail(t, m.data)
	link := testPublic + "/s/tok_EN-abc123"
	wants := []string{tr.ID, "citizen@example.net", "other@example.net",
		"Bescheid 2026-17.pdf (1,5 MB)", "Anlage.csv (512 Byte)", "25.01.2027", "26.11.2026, 10:00 Uhr"}
	for _, w := range wants {
		if !strings.Contains(p.text, w) || !strings.Contains(p.html, w) {
			t.Errorf("%q is not in both parts", w)
		}
	}
	if !strings.Contains(p.text, "\r\n"+link+"\r\n") {
		t.Errorf("the status link is not on its own line:\n%s", p.text)
	}
	if !strings.Contains(p.html, `href="`+link+`"`) {
		t.Error("the HTML part does not link to the status page")
	}

	off, s2, _ := newTest(t, func(c *Config) { c.SenderSummary = false })
	if err := off.SenderCopy(context.Background(), tr, "tok"); err != nil || len(s2.all()) != 0 {
		t.Errorf("without notify.sender_summary: %v, %d sent", err, len(s2.all()))
	}
	if err := n.SenderCopy(context.Background(), tr, ""); err == nil {
		t.Error("a sender copy without a status token was sent")
	}
}

// TestReceipt: the receipt's signed text is attached byte for byte, so that
// the file verifies against the gateway's receipt key, and is shown in the
// body. Without notify.receipts nothing is sent.
func TestReceipt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v, err := vault.Open(ctx, vault.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	tr := testTransfer()
	facts := "sealgate download receipt\n\nReference: " + tr.ID + "\nFile: Bescheid 2026-17.pdf\nSHA-256: " + tr.Files[0].SHA256 + "\n"
	signed, err := v.SignReceipt(ctx, facts)
	if err != nil {
		t.Fatal(err)
	}

	n, s, _ := newTest(t, nil)
	if err := n.Receipt(ctx, tr, signed); err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, s.only(t).data)
	name := "receipt-" + tr.ID + ".asc"
	att, ok := p.attachments[name]
	if !ok {
		t.Fatalf("no attachment %s (have %v)", name, keys(p.attachments))
	}
	if string(att) != signed {
		t.Error("the attached receipt is not the signed text byte for byte")
	}
	if p.attachType[name] != "text/plain" {
		t.Errorf("attachment type %q", p.attachType[name])
	}
	got, err := vault.VerifyReceiptWithKey(v.ReceiptPublicKey(), att)
	if err != nil {
		t.Fatalf("the attached receipt does not verify: %v", err)
	}
	if !strings.Contains(got, "File: Bescheid 2026-17.pdf") {
		t.Errorf("verified text %q", got)
	}
	for _, line := range []string{"Reference: " + tr.ID, "SHA-256: " + tr.Files[0].SHA256, "-----BEGIN PGP SIGNATURE-----"} {
		if !strings.Contains(p.text, line) || !strings.Contains(p.html, line) {
			t.Errorf("%q is not shown in both parts", line)
		}
	}
	if !strings.Contains(p.text, testPublic+"/.well-known/sealgate/receipt-key.asc\r\n") {
		t.Error("the text part does not say where the receipt key is")
	}

	off, s2, _ := newTest(t, func(c *Config) { c.Receipts = false })
	if err := off.Receipt(ctx, tr, signed); err != nil || len(s2.all()) != 0 {
		t.Errorf("without notify.receipts: %v, %d sent", err, len(s2.all()))
	}
	if err := n.Receipt(ctx, tr, " \n"); err == nil {
		t.Error("an empty receipt was sent")
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestWarnings: the account warning goes to the account in its language,
// with the deletion date and a link to sign in; the expired-unread warning
// goes to the clerk with the expiry date and the files.
func TestWarnings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n, s, _ := newTest(t, nil)
	deleteOn := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	if err := n.AccountWarning(ctx, vault.Account{Email: "citizen@example.net", Lang: "en"}, deleteOn); err != nil {
		t.Fatal(err)
	}
	tr := testTransfer()
	if err := n.ExpiredUnread(ctx, tr); err != nil {
		t.Fatal(err)
	}
	all := s.all()
	if len(all) != 2 {
		t.Fatalf("%d sent", len(all))
	}
	acc := parseMail(t, all[0].data)
	if all[0].to[0] != "citizen@example.net" || acc.subject != "Your account will be deleted on 1 Mar 2027" {
		t.Errorf("account warning to %q with subject %q", all[0].to, acc.subject)
	}
	if !strings.Contains(acc.text, "\r\n"+testPublic+"/login\r\n") {
		t.Errorf("no sign-in link:\n%s", acc.text)
	}
	unread := parseMail(t, all[1].data)
	if all[1].to[0] != tr.Sender || !strings.Contains(unread.subject, tr.ID) {
		t.Errorf("expired-unread warning to %q with subject %q", all[1].to, unread.subject)
	}
	for _, w := range []string{"25.01.2027", "Bescheid 2026-17.pdf", "citizen@example.net"} {
		if !strings.Contains(unread.text, w) || !strings.Contains(unread.html, w) {
			t.Errorf("%q missing from the expired-unread warning", w)
		}
	}
	if err := n.LockNotice(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if lock := parseMail(t, s.all()[2].data); !strings.Contains(lock.text, tr.ID) || s.all()[2].to[0] != tr.Sender {
		t.Error("lock notice does not name the transfer or does not go to the clerk")
	}
}

// TestHeaderInjection: addresses from outside are refused unless they are
// plain addresses; texts from outside (references, names, file names) are
// encoded or made harmless, so no field can be added to the header, and
// markup in them is escaped in the HTML part.
func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n, s, _ := newTest(t, nil)
	for _, to := range []string{
		"citizen@example.net\r\nBcc: evil@example.com",
		"citizen@example.net\nBcc: evil@example.com",
		"Evil <citizen@example.net>",
		"citizen@example.net, evil@example.com",
		"citizen@example.net>\r\nRCPT TO:<evil@example.com",
		"citizen@exam\u202eple.net",
		"",
		"no-at-sign",
	} {
		if err := n.LoginCode(ctx, to, "12345678", "de"); err == nil {
			t.Errorf("LoginCode to %q was sent", to)
		} else if strings.Contains(err.Error(), "evil") {
			t.Errorf("the error quotes the address: %v", err)
		}
		tr := testTransfer()
		tr.Sender = to
		if err := n.LockNotice(ctx, tr); err == nil {
			t.Errorf("LockNotice to %q was sent", to)
		}
	}
	if len(s.all()) != 0 {
		t.Fatalf("%d messages sent to bad addresses", len(s.all()))
	}

	tr := testTransfer()
	tr.ID = "SG-1\r\nBcc: evil@example.com"
	tr.Recipients = []string{"a@example.net\r\nBcc: evil@example.com"}
	tr.Files = []vault.File{{Name: "<script>alert(1)</script>\r\nBcc: evil@example.com\u202egpj.exe", Size: 10}}
	if err := n.SenderCopy(ctx, tr, "tok"); err != nil {
		t.Fatal(err)
	}
	m := s.only(t)
	p := parseMail(t, m.data)
	if strings.Contains(strings.ToLower(p.rawHeader), "\nbcc:") || p.header.Has("Bcc") {
		t.Errorf("a Bcc field got into the header:\n%s", p.rawHeader)
	}
	if !strings.Contains(p.subject, "SG-1") || strings.ContainsAny(p.subject, "\r\n") {
		t.Errorf("subject %q", p.subject)
	}
	for _, part := range []string{p.text, p.html} {
		if regexp.MustCompile(`(?m)^Bcc:`).MatchString(part) {
			t.Error("a line of a file name or reference starts a new line in the body")
		}
		if strings.ContainsRune(part, '\u202e') {
			t.Error("a direction override survived")
		}
	}
	if strings.Contains(p.html, "<script>") || !strings.Contains(p.html, "&lt;script&gt;") {
		t.Error("markup in a file name is not escaped in the HTML part")
	}
	checkHeaders(t, p, testTransfer().Sender, "de", p.subject)
}

// TestConfig: New refuses what would make bad mail, and names the key.
func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mod func(*Config)
		key string
	}{
		{func(c *Config) { c.From = "" }, "notify.from"},
		{func(c *Config) { c.From = "not an address" }, "notify.from"},
		{func(c *Config) { c.From = "noreply@example.org\r\nBcc: evil@example.com" }, "notify.from"},
		{func(c *Config) { c.PublicURL = "files.example.org" }, "web.public_url"},
		{func(c *Config) { c.OrgName = "Stadt\r\nBcc: evil@example.com" }, "branding.name"},
		{func(c *Config) { c.DKIM.Domain = "example.org" }, "notify.dkim"},
	}
	for _, tc := range cases {
		cfg := Config{From: testFrom, PublicURL: testPublic, OrgName: testOrg}
		tc.mod(&cfg)
		errs := cfg.Validate()
		if len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), tc.key) {
			t.Errorf("%+v: %v, want a problem with %s", cfg, errs, tc.key)
		}
	}
	// A display name in notify.from wins over branding.name.
	n, s, _ := newTest(t, func(c *Config) { c.From = "Bürgerbüro <" + testFrom + ">" })
	if err := n.LoginCode(context.Background(), "citizen@example.net", "12345678", "de"); err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, s.only(t).data)
	if from, _ := p.header.AddressList("From"); len(from) != 1 || from[0].Name != "Bürgerbüro" {
		t.Errorf("From %q", p.header.Get("From"))
	}
}

// TestSendFailure: a failure of the Sender comes back wrapped, and the
// code is not in the error or the log.
func TestSendFailure(t *testing.T) {
	t.Parallel()
	n, s, logBuf := newTest(t, nil)
	down := errors.New("next hop down")
	s.err = down
	err := n.LoginCode(context.Background(), "citizen@example.net", "55501234", "de")
	if !errors.Is(err, down) {
		t.Fatalf("got %v, want it to wrap the sender's error", err)
	}
	if strings.Contains(fmt.Sprint(err), "55501234") || strings.Contains(logBuf.String(), "55501234") {
		t.Error("the code is in the error or the log")
	}
}
