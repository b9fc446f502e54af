package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sealgate/catalog"
	"sealgate/vault"
)

// CodeValidity is how long a sign-in code is valid (SPEC section 4), as the
// code mail states it.
const CodeValidity = 10 * time.Minute

// maxReceipt bounds a signed receipt: a few lines and a signature.
const maxReceipt = 64 << 10

// Mail kinds, as they appear in the log.
const (
	kindLoginCode  = "login_code"
	kindLock       = "lock_notice"
	kindReceipt    = "receipt"
	kindSenderCopy = "sender_copy"
	kindAccount    = "account_warning"
	kindUnread     = "expired_unread"
)

// LoginCode mails a sign-in code to the address to, in lang ("en" for
// English, anything else German). The code appears in the body only.
func (n *Notifier) LoginCode(ctx context.Context, to, code, lang string) error {
	if !plausibleCode(code) {
		return errors.New("notify: login_code: the code has an unexpected form")
	}
	return n.send(ctx, kindLoginCode, "", to, n.loginCodeContent(n.lang(lang), code))
}

// LockNotice tells t.Sender that t was locked after too many wrong sign-in
// codes by its recipients.
func (n *Notifier) LockNotice(ctx context.Context, t vault.Transfer) error {
	lang := catalog.DefaultLanguage
	return n.send(ctx, kindLock, t.ID, t.Sender, n.lockContent(lang, t))
}

// Receipt sends t.Sender a receipt for a recipient's first complete
// download of a file. signedText is the OpenPGP clear-signed text from
// vault.SignReceipt; it goes out unchanged, in the body and as the
// attachment receipt-<reference>.asc, whose bytes are exactly signedText.
// Without notify.receipts it sends nothing and returns nil.
func (n *Notifier) Receipt(ctx context.Context, t vault.Transfer, signedText string) error {
	if !n.cfg.Receipts {
		return nil
	}
	if strings.TrimSpace(signedText) == "" || len(signedText) > maxReceipt {
		return fmt.Errorf("notify: receipt: signed text is empty or larger than %d bytes", maxReceipt)
	}
	lang := catalog.DefaultLanguage
	return n.send(ctx, kindReceipt, t.ID, t.Sender, n.receiptContent(lang, t, signedText))
}

// SenderCopy sends t.Sender the summary of what went out: reference,
// recipients, files and sizes, expiry, and the link to the status page
// /s/{senderToken}. Without notify.sender_summary it sends nothing and
// returns nil.
func (n *Notifier) SenderCopy(ctx context.Context, t vault.Transfer, senderToken string) error {
	if !n.cfg.SenderSummary {
		return nil
	}
	if senderToken == "" {
		return errors.New("notify: sender_copy: no status token")
	}
	lang := catalog.DefaultLanguage
	return n.send(ctx, kindSenderCopy, t.ID, t.Sender, n.senderCopyContent(lang, t, senderToken))
}

// AccountWarning tells an idle account's owner, in the account's language,
// that the account will be deleted on deleteOn unless they sign in before.
func (n *Notifier) AccountWarning(ctx context.Context, a vault.Account, deleteOn time.Time) error {
	return n.send(ctx, kindAccount, "", a.Email, n.accountContent(n.lang(a.Lang), a, deleteOn))
}

// ExpiredUnread tells the clerk that t expired without any of its files
// having been downloaded.
func (n *Notifier) ExpiredUnread(ctx context.Context, t vault.Transfer) error {
	lang := catalog.DefaultLanguage
	return n.send(ctx, kindUnread, t.ID, t.Sender, n.unreadContent(lang, t))
}

func (n *Notifier) loginCodeContent(lang, code string) *content {
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.code.subject"),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.code.intro")},
			{kind: kindCode, text: code},
			{kind: kindPara, text: n.t(lang, "mail.code.validity", int(CodeValidity/time.Minute))},
			{kind: kindPara, text: n.t(lang, "mail.code.ignore")},
		},
	}
}

func (n *Notifier) lockContent(lang string, t vault.Transfer) *content {
	ref := displayText(t.ID)
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.lock.subject", ref),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.lock.intro", ref)},
			{kind: kindPara, text: n.t(lang, "mail.lock.explain")},
			n.transferFacts(lang, t),
			n.fileList(lang, t),
		},
	}
}

func (n *Notifier) receiptContent(lang string, t vault.Transfer, signed string) *content {
	ref := displayText(t.ID)
	name := receiptFileName(t.ID)
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.receipt.subject", ref),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.receipt.intro", ref)},
			{kind: kindPre, text: signed},
			{kind: kindPara, text: n.t(lang, "mail.receipt.file", name)},
			{kind: kindLink, text: n.t(lang, "mail.receipt.key"), url: n.cfg.PublicURL + "/.well-known/sealgate/receipt-key.asc"},
		},
		// text/plain rather than application/pgp-signature: this is a
		// clear-signed text, not a detached signature of the mail.
		attach: &attachment{name: name, contentType: "text/plain", data: []byte(signed)},
	}
}

func (n *Notifier) senderCopyContent(lang string, t vault.Transfer, token string) *content {
	ref := displayText(t.ID)
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.copy.subject", ref),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.copy.intro")},
			n.transferFacts(lang, t),
			n.fileList(lang, t),
			{kind: kindPara, text: n.t(lang, "mail.copy.status")},
			{kind: kindLink, text: n.t(lang, "mail.copy.button"), url: n.cfg.PublicURL + "/s/" + url.PathEscape(token)},
		},
	}
}

func (n *Notifier) accountContent(lang string, a vault.Account, deleteOn time.Time) *content {
	day := n.cat.Date(lang, deleteOn.In(n.loc))
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.account.subject", day),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.account.intro", displayText(a.Email), day)},
			{kind: kindPara, text: n.t(lang, "mail.account.keep")},
			{kind: kindLink, text: n.t(lang, "mail.account.button"), url: n.cfg.PublicURL + "/login"},
			{kind: kindPara, text: n.t(lang, "mail.account.nothing")},
		},
	}
}

func (n *Notifier) unreadContent(lang string, t vault.Transfer) *content {
	ref := displayText(t.ID)
	return &content{
		lang:    lang,
		subject: n.t(lang, "mail.unread.subject", ref),
		blocks: []block{
			{kind: kindPara, text: n.t(lang, "mail.unread.intro", ref, n.cat.Date(lang, t.ExpiresAt.In(n.loc)))},
			n.transferFacts(lang, t),
			n.fileList(lang, t),
			{kind: kindPara, text: n.t(lang, "mail.unread.advice")},
		},
	}
}

// transferFacts are what a clerk needs to recognise a transfer.
func (n *Notifier) transferFacts(lang string, t vault.Transfer) block {
	rcpts := make([]string, len(t.Recipients))
	for i, r := range t.Recipients {
		rcpts[i] = displayText(r)
	}
	facts := []fact{{n.t(lang, "mail.fact.reference"), displayText(t.ID)}}
	if t.Level > 0 {
		facts = append(facts, fact{n.t(lang, "mail.fact.level"), strconv.Itoa(t.Level)})
	}
	if !t.CreatedAt.IsZero() {
		facts = append(facts, fact{n.t(lang, "mail.fact.sent"), n.cat.DateTime(lang, t.CreatedAt.In(n.loc))})
	}
	if !t.ExpiresAt.IsZero() {
		facts = append(facts, fact{n.t(lang, "mail.fact.expires"), n.cat.Date(lang, t.ExpiresAt.In(n.loc))})
	}
	facts = append(facts, fact{n.t(lang, "mail.fact.recipients"), strings.Join(rcpts, ", ")})
	return block{kind: kindFacts, facts: facts}
}

func (n *Notifier) fileList(lang string, t vault.Transfer) block {
	items := make([]string, len(t.Files))
	for i, f := range t.Files {
		items[i] = n.t(lang, "mail.fact.file", displayText(f.Name), n.cat.Size(lang, f.Size))
	}
	return block{kind: kindList, text: n.t(lang, "mail.fact.files"), items: items}
}

// receiptFileName is receipt-<reference>.asc, with the reference kept to
// characters every file system and mail reader takes as they are.
func receiptFileName(ref string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, ref)
	if safe == "" {
		safe = "sealgate"
	}
	return "receipt-" + safe + ".asc"
}

// plausibleCode accepts what a sign-in code looks like (digits, or letters
// and digits in groups), so that nothing else is mailed as one.
func plausibleCode(code string) bool {
	if len(code) < 4 || len(code) > 32 {
		return false
	}
	for _, r := range code {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}
