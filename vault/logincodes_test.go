package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestLoginCode(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	const email = "anna@example.net"

	if ok, err := v.VerifyLogin(ctx, email, "12345678"); ok || !errors.Is(err, ErrNoCode) {
		t.Fatalf("verify without a code: %v, %v", ok, err)
	}
	code, err := v.StartLogin(ctx, "Anna@Example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{8}$`).MatchString(code) {
		t.Fatalf("code %q is not 8 digits", code)
	}
	// Four wrong tries, then the right one (fifth try) still works, with
	// the spacing a person might type.
	for i := range 4 {
		if ok, err := v.VerifyLogin(ctx, email, wrongCode(code, i)); ok || err != nil {
			t.Fatalf("wrong try %d: %v, %v", i+1, ok, err)
		}
	}
	if ok, err := v.VerifyLogin(ctx, "ANNA@example.net", code[:4]+" "+code[4:]); !ok || err != nil {
		t.Fatalf("right code on the fifth try: %v, %v", ok, err)
	}
	// Used up.
	if ok, err := v.VerifyLogin(ctx, email, code); ok || !errors.Is(err, ErrNoCode) {
		t.Fatalf("code used twice: %v, %v", ok, err)
	}

	// Five wrong tries: the sixth fails even with the right code.
	code, _ = v.StartLogin(ctx, email)
	for i := range 5 {
		if ok, err := v.VerifyLogin(ctx, email, wrongCode(code, i)); ok || err != nil {
			t.Fatalf("wrong try %d: %v, %v", i+1, ok, err)
		}
	}
	if ok, err := v.VerifyLogin(ctx, email, code); ok || !errors.Is(err, ErrTooManyTries) {
		t.Fatalf("sixth try with the right code: %v, %v; want ErrTooManyTries", ok, err)
	}

	// A new code replaces the old one and resets the tries.
	old := code
	code, _ = v.StartLogin(ctx, email)
	if code != old {
		if ok, err := v.VerifyLogin(ctx, email, old); ok || err != nil {
			t.Fatalf("replaced code: %v, %v", ok, err)
		}
	}
	if ok, err := v.VerifyLogin(ctx, email, code); !ok || err != nil {
		t.Fatalf("new code: %v, %v", ok, err)
	}

	// Valid for 10 minutes, not a second more.
	code, _ = v.StartLogin(ctx, email)
	start := clock.Now()
	clock.Set(start.Add(loginCodeValidity - time.Second))
	if ok, err := v.VerifyLogin(ctx, email, wrongCode(code, 0)); ok || err != nil {
		t.Fatalf("just before expiry: %v, %v", ok, err)
	}
	clock.Set(start.Add(loginCodeValidity))
	if ok, err := v.VerifyLogin(ctx, email, code); ok || !errors.Is(err, ErrNoCode) {
		t.Fatalf("at expiry: %v, %v; want ErrNoCode", ok, err)
	}
	if n := dbEntries(t, v)["logincodes"]; n != 0 {
		t.Errorf("expired code still stored (%d entries)", n)
	}

	// A code is for one address only.
	code, _ = v.StartLogin(ctx, email)
	if ok, err := v.VerifyLogin(ctx, "bob@example.org", code); ok || !errors.Is(err, ErrNoCode) {
		t.Errorf("code used for another address: %v, %v", ok, err)
	}
	if _, err := v.StartLogin(ctx, "bob"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("StartLogin(bob): %v", err)
	}
}

// wrongCode returns an 8-digit code that differs from code.
func wrongCode(code string, i int) string {
	b := []byte(code)
	b[i%8] = '0' + (b[i%8]-'0'+1)%10
	return string(b)
}

// TestLoginCodeParallelTries: guesses in parallel cannot get past the
// limit, because counting and checking are one transaction.
func TestLoginCodeParallelTries(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	code, err := v.StartLogin(ctx, "anna@example.net")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		counted, tooMn int
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := v.VerifyLogin(ctx, "anna@example.net", wrongCode(code, i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ok:
				t.Error("wrong code accepted")
			case errors.Is(err, ErrTooManyTries):
				tooMn++
			case err == nil:
				counted++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if counted != loginCodeTries || tooMn != 40-loginCodeTries {
		t.Errorf("%d tries counted and %d refused, want %d and %d", counted, tooMn, loginCodeTries, 40-loginCodeTries)
	}
}

// TestLoginCodeStoredAsMAC: neither the code nor its plain SHA-256 is in
// the database file.
func TestLoginCodeStoredAsMAC(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	code, err := v.StartLogin(context.Background(), "anna@example.net")
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	db, err := os.ReadFile(filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(code)) || bytes.Contains(db, secretHash(code)) {
		t.Error("database holds the code or its plain hash")
	}
}

// TestLoginCodeUniform: every digit position takes every value about
// equally often (a biased generator, such as a modulo of a byte, fails by
// far more than the bound allows).
func TestLoginCodeUniform(t *testing.T) {
	t.Parallel()
	const n = 20000
	var counts [8][10]int
	for range n {
		c, err := newLoginCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 8 {
			t.Fatalf("code %q", c)
		}
		for i := range 8 {
			counts[i][c[i]-'0']++
		}
	}
	// Expected 2000 per cell, standard deviation about 42: allow 6 of them.
	for i, row := range counts {
		for d, got := range row {
			if got < n/10-250 || got > n/10+250 {
				t.Errorf("position %d digit %d: %d of %d", i, d, got, n)
			}
		}
	}
}
