package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestListTransfers(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	begin := func(sender string, recipients ...string) *Draft {
		t.Helper()
		d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: sender, Recipients: recipients})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.AddFile(ctx, "f.pdf", "", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		return d
	}
	draft := begin("clerk@example.org", "anna@example.net")
	clock.Set(clock.Now().AddDate(0, 0, 1))
	committed := begin("Clerk@Example.org", "bob@example.org", "anna@example.net")
	committed.Commit(ctx)
	clock.Set(clock.Now().AddDate(0, 0, 1))
	revoked := begin("other@example.org", "carl@example.com")
	revoked.Commit(ctx)
	v.Revoke(ctx, revoked.ID())
	clock.Set(clock.Now().Add(1))
	locked := begin("other@example.org", "dora@example.com")
	locked.Commit(ctx)
	for range lockAfterFailedCodes {
		v.RecordFailedCode(ctx, locked.ID())
	}

	ids := func(list []TransferInfo) string {
		var s []string
		for _, i := range list {
			s = append(s, i.ID)
		}
		return strings.Join(s, ",")
	}
	all, err := v.ListTransfers(ctx, TransferFilter{})
	if err != nil || ids(all) != strings.Join([]string{draft.ID(), committed.ID(), revoked.ID(), locked.ID()}, ",") {
		t.Fatalf("all: %s, %v", ids(all), err)
	}
	for i, want := range []string{StateDraft, StateCommitted, StateRevoked, StateLocked} {
		if all[i].State != want {
			t.Errorf("%s: state %s, want %s", all[i].ID, all[i].State, want)
		}
	}
	if len(all[2].Files) != 1 || len(all[2].FileKeys[all[2].Files[0].ID]) != 0 {
		t.Errorf("revoked transfer: files %+v, keys %+v", all[2].Files, all[2].FileKeys)
	}
	if k := all[1].FileKeys[all[1].Files[0].ID]; len(k) != 1 || !k[0].Gateway || !k[0].Current || k[0].ID != v.keys.Load().keyID {
		t.Errorf("committed transfer's keys %+v", k)
	}

	for _, tc := range []struct {
		f    TransferFilter
		want []string
	}{
		{TransferFilter{Sender: "CLERK@example.org"}, []string{draft.ID(), committed.ID()}},
		{TransferFilter{Recipient: "Anna@example.net"}, []string{draft.ID(), committed.ID()}},
		{TransferFilter{Recipient: "bob@example.org"}, []string{committed.ID()}},
		{TransferFilter{Sender: "other@example.org", State: StateLocked}, []string{locked.ID()}},
		{TransferFilter{Sender: "nobody@example.org"}, nil},
	} {
		got, err := v.ListTransfers(ctx, tc.f)
		if err != nil || ids(got) != strings.Join(tc.want, ",") {
			t.Errorf("%+v: %s, %v; want %v", tc.f, ids(got), err, tc.want)
		}
	}

	clock.Set(committed.ExpiresAt())
	info, err := v.TransferByID(ctx, " "+strings.ToLower(committed.ID()))
	if err != nil || info.State != StateExpired || info.ID != committed.ID() {
		t.Errorf("TransferByID after expiry: %s, %v", info.State, err)
	}
	if _, err := v.TransferByID(ctx, "SG-0000-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}
