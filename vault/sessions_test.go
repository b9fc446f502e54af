package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	v, clock, dir := openTestVault(t)
	ctx := context.Background()
	start := clock.Now()

	tok, err := v.NewSession(ctx, "Anna@Example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormedToken(tok) {
		t.Fatalf("token %q", tok)
	}
	if e, err := v.SessionEmail(ctx, tok); err != nil || e != "anna@example.net" {
		t.Fatalf("SessionEmail = %q, %v", e, err)
	}
	other, _ := newToken()
	for _, bad := range []string{"", "x", other, tok[:42]} {
		if _, err := v.SessionEmail(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionEmail(%q): %v, want ErrNotFound", bad, err)
		}
	}

	// Sliding idle expiry: a request every 11 hours keeps it alive...
	for i := 1; i <= 14; i++ {
		clock.Set(start.Add(time.Duration(i) * 11 * time.Hour))
		if _, err := v.SessionEmail(ctx, tok); err != nil {
			t.Fatalf("after %d h: %v", i*11, err)
		}
	}
	// ...but not beyond a week after sign-in.
	clock.Set(start.Add(SessionLifetime))
	if _, err := v.SessionEmail(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after a week: %v, want ErrExpired", err)
	}
	if _, err := v.SessionEmail(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ended session was not deleted: %v", err)
	}

	// 12 idle hours end it.
	tok, _ = v.NewSession(ctx, "anna@example.net")
	at := clock.Now()
	clock.Set(at.Add(SessionIdle - time.Second))
	if _, err := v.SessionEmail(ctx, tok); err != nil {
		t.Fatalf("just before idle expiry: %v", err)
	}
	clock.Set(at.Add(SessionIdle - time.Second + SessionIdle))
	if _, err := v.SessionEmail(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after 12 idle hours: %v, want ErrExpired", err)
	}

	tok, _ = v.NewSession(ctx, "anna@example.net")
	if err := v.EndSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.SessionEmail(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("after EndSession: %v", err)
	}
	if err := v.EndSession(ctx, tok); err != nil {
		t.Errorf("second EndSession: %v", err)
	}
	if _, err := v.NewSession(ctx, "nobody"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("NewSession(nobody): %v", err)
	}

	// Only the hash of a token is stored.
	tok, _ = v.NewSession(ctx, "anna@example.net")
	v.Close()
	db, _ := os.ReadFile(filepath.Join(dir, dbName))
	if bytes.Contains(db, []byte(tok)) {
		t.Error("database holds a session token")
	}
}
