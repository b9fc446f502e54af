package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"sealgate/catalog"
	"sealgate/vault"
)

// UploadStore is what the upload mails read; *vault.Vault implements it.
type UploadStore interface {
	Upload(ctx context.Context, id string) (vault.Upload, error)
	UploadMessage(ctx context.Context, id string) (string, error)
	OpenUploadFile(ctx context.Context, uploadID, fileID string) (io.ReadCloser, vault.UploadFile, error)
	NewClerkToken(ctx context.Context, uploadID string) (string, error)
}

// Queue keeps and delivers a finished message (*mailqueue.Queue): upload
// mails are not sent while someone waits, they are queued and retried until
// the next hop takes them.
type Queue interface {
	Enqueue(ctx context.Context, m vault.OutgoingMail, msg []byte) (vault.OutgoingMail, error)
}

// MaxAttachMaxSize bounds uploads.attach_max_size: an upload mail is held
// in memory while it is composed and sent (base64 adds a third), and the
// internal mail server must take it.
const MaxAttachMaxSize = 40 << 20

// UploadConfig is what the upload mails need from the configuration file.
type UploadConfig struct {
	// AttachMaxSize is uploads.attach_max_size: an upload's files are
	// attached when together they have at most this many bytes; above,
	// and always at levels 3–4, the mail links to the clerk's page
	// /r/{token} instead. 0 means never attach. At most
	// MaxAttachMaxSize.
	AttachMaxSize int64
}

// Validate returns every problem at once, each naming its configuration
// key.
func (c UploadConfig) Validate() []error {
	if c.AttachMaxSize < 0 || c.AttachMaxSize > MaxAttachMaxSize {
		return []error{fmt.Errorf("uploads.attach_max_size: %d is not between 0 and %d bytes", c.AttachMaxSize, MaxAttachMaxSize)}
	}
	return nil
}

// UploadMailer delivers uploads and secure replies to the clerk who sent
// the transfer: one ordinary mail from notify.from, Reply-To the recipient
// who uploaded, through the mail queue. It is safe for concurrent use.
type UploadMailer struct {
	n     *Notifier
	store UploadStore
	queue Queue
	cfg   UploadConfig
}

// Mail kinds of upload mails, as the log and the queue name them.
const (
	KindUpload = "upload"
	KindReply  = "reply"
)

// UploadMailer returns the mailer for uploads and secure replies. store
// and q must not be nil.
func (n *Notifier) UploadMailer(store UploadStore, q Queue, cfg UploadConfig) (*UploadMailer, error) {
	if err := errors.Join(cfg.Validate()...); err != nil {
		return nil, err
	}
	if store == nil || q == nil {
		return nil, errors.New("notify: upload store and queue are required")
	}
	return &UploadMailer{n: n, store: store, queue: q, cfg: cfg}, nil
}

// UploadDelivery sends an upload made through an upload link to the clerk:
// it composes the mail (the recipient's message as text, the files
// attached or linked, see UploadConfig) and queues it, which marks the
// upload queued. It returns once the mail is stored in the queue; the
// upload's Delivery then says how delivery goes.
//
// Errors from the vault pass through: vault.ErrUploadNotReady (no message
// and no file, or a file not completely received and checked),
// vault.ErrUploadSent (sent already), vault.ErrUploadClosed and the
// transfer's errors.
func (m *UploadMailer) UploadDelivery(ctx context.Context, uploadID string) error {
	return m.deliver(ctx, uploadID, vault.UploadKindUpload)
}

// SecureReply sends a secure reply from the transfer page to the clerk,
// like UploadDelivery: at levels 1–2 the same mail with the files
// attached (or linked above uploads.attach_max_size), at level 3 with
// the files on the clerk's page only, at level 4 the message text too.
func (m *UploadMailer) SecureReply(ctx context.Context, uploadID string) error {
	return m.deliver(ctx, uploadID, vault.UploadKindReply)
}

// composeTries bounds how often composing starts again because the
// upload changed meanwhile (a file added in another tab).
const composeTries = 3

func (m *UploadMailer) deliver(ctx context.Context, uploadID, kind string) error {
	for range composeTries {
		up, err := m.store.Upload(ctx, uploadID)
		if err != nil {
			return fmt.Errorf("notify: %s: %w", kind, err)
		}
		if up.Kind != kind {
			return fmt.Errorf("notify: %s: upload is a %s: %w", kind, up.Kind, vault.ErrNotFound)
		}
		if up.State != vault.UploadOpen && up.State != vault.UploadFailed {
			return fmt.Errorf("notify: %s: %w", kind, vault.ErrUploadSent)
		}
		if err := ready(up); err != nil {
			return fmt.Errorf("notify: %s: %w", kind, err)
		}
		msg, err := m.compose(ctx, up)
		if err != nil {
			return fmt.Errorf("notify: %s: %w", kind, err)
		}
		_, err = m.queue.Enqueue(ctx, vault.OutgoingMail{Kind: kind, From: m.n.from.Address, To: []string{up.Sender},
			UploadID: up.ID, UploadVersion: up.Version}, msg)
		if errors.Is(err, vault.ErrUploadChanged) {
			continue
		}
		if err != nil {
			return fmt.Errorf("notify: %s: %w", kind, err)
		}
		m.n.log.Info("notify: mail queued", "kind", kind, "transfer", up.TransferID, "files", len(up.Files))
		return nil
	}
	return fmt.Errorf("notify: %s: %w", kind, vault.ErrUploadChanged)
}

// ready says whether an upload can go: a message or a file, every file
// accepted.
func ready(up vault.Upload) error {
	if len(up.Files) == 0 && up.MessageSize == 0 {
		return vault.ErrUploadNotReady
	}
	for _, f := range up.Files {
		if f.State != vault.FileAccepted {
			return vault.ErrUploadNotReady
		}
	}
	return nil
}

// attach decides whether the files go into the mail itself.
func (m *UploadMailer) attach(up vault.Upload) bool {
	return up.Level <= 2 && len(up.Files) > 0 && up.AcceptedSize() <= m.cfg.AttachMaxSize
}

// compose builds the signed message for up.
func (m *UploadMailer) compose(ctx context.Context, up vault.Upload) ([]byte, error) {
	n := m.n
	if err := checkAddress(up.Sender); err != nil {
		return nil, fmt.Errorf("clerk: %w", err)
	}
	if err := checkAddress(up.Email); err != nil {
		return nil, fmt.Errorf("uploader: %w", err)
	}
	text := ""
	if up.MessageSize > 0 && up.Level < 4 {
		var err error
		if text, err = m.store.UploadMessage(ctx, up.ID); err != nil {
			return nil, err
		}
	}
	c := m.content(catalog.DefaultLanguage, up, text)
	if m.attach(up) {
		for _, f := range up.Files {
			c.files = append(c.files, fileAttachment{
				name:        displayText(f.Name),
				contentType: attachmentType(f.ContentType),
				sha256:      f.SHA256,
				open: func() (io.ReadCloser, error) {
					r, _, err := m.store.OpenUploadFile(ctx, up.ID, f.ID)
					return r, err
				},
			})
		}
	} else if len(up.Files) > 0 || (up.Level >= 4 && up.MessageSize > 0) {
		token, err := m.store.NewClerkToken(ctx, up.ID)
		if err != nil {
			return nil, err
		}
		c.blocks = append(c.blocks, m.linkBlocks(c.lang, up, token)...)
	}
	c.blocks = append(c.blocks, block{kind: kindPara, text: n.t(c.lang, "mail.upload.reply_hint", displayText(up.Email))})
	c.footer = n.footer(c.lang)
	msg, err := n.compose(up.Sender, c, n.now())
	if err != nil {
		return nil, err
	}
	return n.dkim.Sign(ctx, msg)
}

// content is the mail without the part that depends on attaching.
func (m *UploadMailer) content(lang string, up vault.Upload, text string) *content {
	n := m.n
	ref, who := displayText(up.TransferID), displayText(up.Email)
	subject, intro := "mail.upload.subject", "mail.upload.intro"
	if up.Kind == vault.UploadKindReply {
		subject, intro = "mail.reply.subject", "mail.reply.intro"
	}
	c := &content{lang: lang, subject: n.t(lang, subject, ref, who), replyTo: up.Email}
	facts := []fact{
		{n.t(lang, "mail.fact.reference"), ref},
		{n.t(lang, "mail.fact.from"), who},
		{n.t(lang, "mail.fact.level"), strconv.Itoa(up.Level)},
		{n.t(lang, "mail.fact.received"), n.cat.DateTime(lang, n.now().In(n.loc))},
	}
	c.blocks = append(c.blocks,
		block{kind: kindPara, text: n.t(lang, intro, who, ref)},
		block{kind: kindFacts, facts: facts},
	)
	switch {
	case up.MessageSize > 0 && up.Level >= 4:
		c.blocks = append(c.blocks, block{kind: kindPara, text: n.t(lang, "mail.upload.message_on_page")})
	case up.MessageSize > 0:
		c.blocks = append(c.blocks,
			block{kind: kindPara, text: n.t(lang, "mail.upload.message")},
			block{kind: kindPre, text: messageText(text)})
	default:
		c.blocks = append(c.blocks, block{kind: kindPara, text: n.t(lang, "mail.upload.no_message")})
	}
	if len(up.Files) > 0 {
		items := make([]string, len(up.Files))
		for i, f := range up.Files {
			items[i] = n.t(lang, "mail.upload.file", displayText(f.Name), n.cat.Size(lang, f.Size), f.SHA256)
		}
		c.blocks = append(c.blocks, block{kind: kindList, text: n.t(lang, "mail.fact.files"), items: items})
		if m.attach(up) {
			c.blocks = append(c.blocks, block{kind: kindPara, text: n.t(lang, "mail.upload.attached")})
		}
	}
	return c
}

// linkBlocks point the clerk to the page /r/{token}, for files that are
// not attached or a level-4 message.
func (m *UploadMailer) linkBlocks(lang string, up vault.Upload, token string) []block {
	n := m.n
	var out []block
	switch {
	case len(up.Files) > 0 && up.Level >= 3:
		out = append(out, block{kind: kindPara, text: n.t(lang, "mail.upload.linked_level", up.Level)})
	case len(up.Files) > 0:
		out = append(out, block{kind: kindPara, text: n.t(lang, "mail.upload.linked")})
	}
	return append(out,
		block{kind: kindLink, text: n.t(lang, "mail.upload.button"), url: ClerkPageURL(n.cfg.PublicURL, token)},
		block{kind: kindPara, text: n.t(lang, "mail.upload.available", n.cat.Date(lang, up.ExpiresAt.In(n.loc)))})
}

// ClerkPageURL is the address of the clerk's page for one upload:
// publicURL/r/{token}. The page (linkserver) signs the clerk in by code
// as the transfer's sender, shows the message and serves the files at
// /r/{token}/files/{fileID}.
func ClerkPageURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/r/" + url.PathEscape(token)
}

// messageText makes the recipient's message safe to show as it was
// written: line breaks and tabs stay, other control characters become
// blanks, direction overrides go. The HTML part escapes it on top.
func messageText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case isBidi(r):
			return -1
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
}

// attachmentType is the media type an attachment is labelled with: the
// vault's sanitised type, or application/octet-stream.
func attachmentType(t string) string {
	if t == "" || !strings.Contains(t, "/") || strings.ContainsAny(t, ";\r\n ") {
		return "application/octet-stream"
	}
	return t
}
