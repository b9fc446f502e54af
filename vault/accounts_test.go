package vault

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"Anna.Muster@Example.NET", "anna.muster@example.net"},
		{"  bob@example.org\t", "bob@example.org"},
		{"o'brien+tag@example.ie", "o'brien+tag@example.ie"},
		{"jürgen@bücher.example", "jürgen@bücher.example"},
		{"", ""},
		{"no-at-sign", ""},
		{"@example.org", ""},
		{"anna@", ""},
		{"a@b@example.org", ""},
		{"Anna <anna@example.org>", ""},
		{"anna @example.org", ""},
		{"anna@exa\x00mple.org", ""},
		{"anna@example..org", ""},
		{"a,b@example.org", ""},
		{"\xff@example.org", ""},
		{string(make([]byte, 300)) + "@example.org", ""},
	} {
		got, err := NormalizeEmail(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidAddress", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()

	if _, err := v.Account(ctx, "anna@example.net"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Account before sign-in: %v, want ErrNotFound", err)
	}
	created := clock.Now()
	a, err := v.TouchAccount(ctx, "Anna@Example.NET", "en")
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "anna@example.net" || a.Lang != "en" || !a.CreatedAt.Equal(created) || !a.LastActive.Equal(created) || a.HasKey {
		t.Fatalf("new account %+v", a)
	}
	// A later sign-in moves the activity, keeps the creation time, and
	// keeps the language unless a supported one is given.
	clock.Set(created.Add(48 * time.Hour))
	if a, err = v.TouchAccount(ctx, "anna@example.net", "fr"); err != nil {
		t.Fatal(err)
	}
	if a.Lang != "en" || !a.CreatedAt.Equal(created) || !a.LastActive.Equal(clock.Now()) {
		t.Fatalf("touched account %+v", a)
	}
	if a, err = v.TouchAccount(ctx, "anna@example.net", "DE"); err != nil || a.Lang != "de" {
		t.Fatalf("language switch: %+v, %v", a, err)
	}
	if _, err := v.TouchAccount(ctx, "not an address", "de"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("TouchAccount with a bad address: %v", err)
	}
	got, err := v.Account(ctx, " ANNA@example.net ")
	if err != nil || got != a {
		t.Fatalf("Account = %+v, %v; want %+v", got, err, a)
	}

	if _, err := v.TouchAccount(ctx, "bob@example.org", ""); err != nil {
		t.Fatal(err)
	}
	list, err := v.ListAccounts(ctx)
	if err != nil || len(list) != 2 || list[0].Email != "anna@example.net" || list[1].Email != "bob@example.org" || list[1].Lang != "" {
		t.Fatalf("ListAccounts = %+v, %v", list, err)
	}
}

// TestDeleteAccount: the account goes with its sessions and its pending
// code; other people's stay.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	for _, e := range []string{"anna@example.net", "bob@example.org"} {
		if _, err := v.TouchAccount(ctx, e, "de"); err != nil {
			t.Fatal(err)
		}
	}
	annaSessions := make([]string, 3)
	for i := range annaSessions {
		s, err := v.NewSession(ctx, "anna@example.net")
		if err != nil {
			t.Fatal(err)
		}
		annaSessions[i] = s
	}
	bobSession, err := v.NewSession(ctx, "bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	code, err := v.StartLogin(ctx, "anna@example.net")
	if err != nil {
		t.Fatal(err)
	}

	if err := v.DeleteAccount(ctx, "Anna@example.net"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, err := v.Account(ctx, "anna@example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("account after deletion: %v", err)
	}
	for _, s := range annaSessions {
		if _, err := v.SessionEmail(ctx, s); !errors.Is(err, ErrNotFound) {
			t.Errorf("session after account deletion: %v", err)
		}
	}
	if ok, err := v.VerifyLogin(ctx, "anna@example.net", code); ok || !errors.Is(err, ErrNoCode) {
		t.Errorf("sign-in code after account deletion: %v, %v", ok, err)
	}
	if e, err := v.SessionEmail(ctx, bobSession); err != nil || e != "bob@example.org" {
		t.Errorf("other account's session: %q, %v", e, err)
	}
	if err := v.DeleteAccount(ctx, "anna@example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteAccount: %v, want ErrNotFound", err)
	}
	if n := dbEntries(t, v)["sessions"]; n != 1 {
		t.Errorf("%d sessions left, want 1", n)
	}
}
