package smtpproxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"sealgate/policy"
	"sealgate/smtpproxy/rewrite"
	"sealgate/vault"
)

// cleanupTimeout bounds Abort and Commit, which run even after the message's
// context ended: what a failed attempt stored must go, and a transfer whose
// links went out must be marked committed.
const cleanupTimeout = 30 * time.Second

// draftSink stores the attachments of one message in a vault draft, begun
// at the first attachment: a tagged message without attachments (levels
// 1–3) goes out with its tag removed and stores nothing. Level 4 (the text
// is always stored) and an upload request (the links belong to a transfer)
// begin it in any case.
type draftSink struct {
	v      *vault.Vault
	nt     vault.NewTransfer
	ctx    context.Context
	log    *slog.Logger
	failed func(kind string) // counts a failure (Server.failed)
	draft  *vault.Draft
	done   bool
	text   bool              // the message text was stored (level 4)
	links  map[string]string // upload URLs made, by lower-cased recipient
}

// uploadOnlyLevel is the level of the transfer that holds the upload links
// of a level-0 message: the vault stores nothing below level 1, and level 1
// asks of the recipient what level 0 does, nothing but the link.
const uploadOnlyLevel = 1

func (s *Server) newDraftSink(tx *transaction, dec policy.Decision) *draftSink {
	rcpts := make([]string, len(tx.ext.rcpts))
	for i, r := range tx.ext.rcpts {
		rcpts[i] = strings.ToLower(r)
	}
	return &draftSink{
		v:      s.vault,
		nt:     vault.NewTransfer{Level: max(dec.Level, uploadOnlyLevel), Sender: tx.from, Recipients: rcpts, Upload: dec.Upload},
		ctx:    tx.ctx,
		log:    tx.log,
		failed: s.failed,
	}
}

// storageError is a failure of the vault: the message is held (451), and
// the failure counted (FailureStorage).
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// begin starts the draft unless it exists.
func (d *draftSink) begin(ctx context.Context) error {
	if d.draft != nil {
		return nil
	}
	draft, err := d.v.BeginTransfer(ctx, d.nt)
	if err != nil {
		return &storageError{fmt.Errorf("begin transfer: %w", err)}
	}
	d.draft = draft
	d.log.Debug("smtp: transfer begun", "transfer", draft.ID())
	return nil
}

func (d *draftSink) AddFile(ctx context.Context, name, contentType string, r io.Reader) (rewrite.Stored, error) {
	if err := d.begin(ctx); err != nil {
		return rewrite.Stored{}, err
	}
	f, err := d.draft.AddFile(ctx, name, contentType, r)
	if err != nil {
		return rewrite.Stored{}, &storageError{fmt.Errorf("store attachment: %w", err)}
	}
	return rewrite.Stored{Name: f.Name, ContentType: f.ContentType, Size: f.Size}, nil
}

// AddText stores the message text of a level-4 message (rewrite.TextSink).
func (d *draftSink) AddText(ctx context.Context, plain, html []byte) error {
	if err := d.begin(ctx); err != nil {
		return err
	}
	if _, err := d.draft.AddText(ctx, plain, html); err != nil {
		return &storageError{fmt.Errorf("store message text: %w", err)}
	}
	d.text = true
	return nil
}

// uploadURL makes rcpt's personal upload link, /u/{token} under publicURL.
// A recipient named twice gets the same link twice: a second token would
// replace the first, and the first copy's link would lead nowhere.
func (d *draftSink) uploadURL(ctx context.Context, publicURL, rcpt string) (string, error) {
	rcpt = strings.ToLower(rcpt)
	if u, ok := d.links[rcpt]; ok {
		return u, nil
	}
	if err := d.begin(ctx); err != nil {
		return "", err
	}
	token, err := d.draft.UploadToken(ctx, rcpt)
	if err != nil {
		return "", &storageError{fmt.Errorf("make upload link: %w", err)}
	}
	if d.links == nil {
		d.links = map[string]string{}
	}
	d.links[rcpt] = publicURL + "/u/" + token
	return d.links[rcpt], nil
}

// abort removes what this attempt stored. It is a no-op after commit.
func (d *draftSink) abort() {
	if d.done || d.draft == nil {
		return
	}
	d.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), cleanupTimeout)
	defer cancel()
	if err := d.draft.Abort(ctx); err != nil {
		d.log.Error("smtp: could not remove the transfer of a failed attempt", "transfer", d.draft.ID(), "err", err)
		d.failed(FailureCleanup)
	}
}

// commit runs once the next hop accepted the mail with the links. A failure
// is logged, not returned: the mail is out, a retry would send it twice, and
// the vault serves an uncommitted draft like a committed one.
func (d *draftSink) commit() {
	if d.done || d.draft == nil {
		d.done = true
		return
	}
	d.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), cleanupTimeout)
	defer cancel()
	if err := d.draft.Commit(ctx); err != nil {
		d.log.Error("smtp: transfer sent but not committed", "transfer", d.draft.ID(), "err", err)
		d.failed(FailureCommit)
		return
	}
	d.log.Info("smtp: transfer committed", "transfer", d.draft.ID())
}
