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
// 1–3) goes out with its tag removed and stores nothing.
type draftSink struct {
	v     *vault.Vault
	nt    vault.NewTransfer
	ctx   context.Context
	log   *slog.Logger
	draft *vault.Draft
	done  bool
}

func (s *Server) newDraftSink(tx *transaction, dec policy.Decision) *draftSink {
	rcpts := make([]string, len(tx.ext.rcpts))
	for i, r := range tx.ext.rcpts {
		rcpts[i] = strings.ToLower(r)
	}
	return &draftSink{
		v:   s.vault,
		nt:  vault.NewTransfer{Level: dec.Level, Sender: tx.from, Recipients: rcpts, Upload: dec.Upload},
		ctx: tx.ctx,
		log: tx.log,
	}
}

func (d *draftSink) AddFile(ctx context.Context, name, contentType string, r io.Reader) (rewrite.Stored, error) {
	if d.draft == nil {
		draft, err := d.v.BeginTransfer(ctx, d.nt)
		if err != nil {
			return rewrite.Stored{}, fmt.Errorf("begin transfer: %w", err)
		}
		d.draft = draft
		d.log.Debug("smtp: transfer begun", "transfer", draft.ID())
	}
	f, err := d.draft.AddFile(ctx, name, contentType, r)
	if err != nil {
		return rewrite.Stored{}, fmt.Errorf("store attachment: %w", err)
	}
	return rewrite.Stored{Name: f.Name, ContentType: f.ContentType, Size: f.Size}, nil
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
		return
	}
	d.log.Info("smtp: transfer committed", "transfer", d.draft.ID())
}
