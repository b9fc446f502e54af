package catalog

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func newCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verbs matches fmt verbs, with or without an explicit argument index.
var verbs = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// TestKeysInEveryLanguage fails when a key exists in one language and not
// in another, or when the two texts take different arguments.
func TestKeysInEveryLanguage(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	if got := c.Languages(); len(got) < 2 || got[0] != "de" {
		t.Fatalf("Languages() = %v, want de first and at least one more", got)
	}
	all := map[string]bool{}
	for _, l := range c.Languages() {
		for _, k := range c.keys(l) {
			all[k] = true
		}
	}
	for k := range all {
		var ref []string
		for i, l := range c.Languages() {
			text, ok := c.texts[l][k]
			if !ok {
				t.Errorf("key %q missing in %s", k, l)
				continue
			}
			if strings.TrimSpace(text) == "" {
				t.Errorf("key %q is empty in %s", k, l)
			}
			vs := argVerbs(text)
			if i == 0 {
				ref = vs
			} else if strings.Join(vs, " ") != strings.Join(ref, " ") {
				t.Errorf("key %q: arguments %v in %s, %v in de", k, vs, l, ref)
			}
		}
	}
}

// argVerbs lists the verbs of a text by argument position.
func argVerbs(text string) []string {
	var out []string
	next := 1
	for _, m := range verbs.FindAllString(text, -1) {
		if m == "%%" {
			continue
		}
		idx := next
		if i := strings.Index(m, "["); i >= 0 {
			j := strings.Index(m, "]")
			idx = atoi(m[i+1 : j])
		}
		next = idx + 1
		out = append(out, string(rune('0'+idx))+m[len(m)-1:])
	}
	sort.Strings(out)
	return out
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestT(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	cases := []struct {
		lang, key string
		args      []any
		want      string
	}{
		{"de", "notice.title", nil, "Sichere Übermittlung"},
		{"en", "notice.title", nil, "Secure delivery"},
		{"en-GB", "notice.title", nil, "Secure delivery"},
		{"EN_us", "notice.title", nil, "Secure delivery"},
		{"fr", "notice.title", nil, "Sichere Übermittlung"},
		{"", "notice.title", nil, "Sichere Übermittlung"},
		{"en", "notice.code", []any{"ABCD-EFGH"}, "Access code: ABCD-EFGH"},
		{"en", "no.such.key", nil, "no.such.key"},
	}
	for _, tc := range cases {
		if got := c.T(tc.lang, tc.key, tc.args...); got != tc.want {
			t.Errorf("T(%q, %q) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for header, want := range map[string]string{
		"en-US,en;q=0.9,de;q=0.8": "en",
		"de-AT":                   "de",
		"fr-FR, en;q=0.5":         "en",
		"fr":                      "de",
		"":                        "de",
		"*;;;garbage":             "de",
	} {
		if got := c.Match(header); got != want {
			t.Errorf("Match(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	cases := []struct {
		n      int64
		de, en string
	}{
		{0, "0 Byte", "0 bytes"},
		{1, "1 Byte", "1 byte"},
		{999, "999 Byte", "999 bytes"},
		{1000, "1 kB", "1 kB"},
		{1500, "1,5 kB", "1.5 kB"},
		{1_500_000, "1,5 MB", "1.5 MB"},
		{15_300_000, "15 MB", "15 MB"},
		{999_999, "1 MB", "1 MB"},
		{9_960_000, "10 MB", "10 MB"},
		{1 << 30, "1,1 GB", "1.1 GB"},
		{1<<63 - 1, "9,2 EB", "9.2 EB"},
	}
	for _, tc := range cases {
		if got := c.Size("de", tc.n); got != tc.de {
			t.Errorf("Size(de, %d) = %q, want %q", tc.n, got, tc.de)
		}
		if got := c.Size("en", tc.n); got != tc.en {
			t.Errorf("Size(en, %d) = %q, want %q", tc.n, got, tc.en)
		}
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	berlin := time.FixedZone("CET", 3600)
	ts := time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC).In(berlin) // already the 27th in Berlin
	for _, tc := range []struct{ lang, date, dateTime string }{
		{"de", "27.11.2026", "27.11.2026, 00:30 Uhr"},
		{"en", "27 Nov 2026", "27 Nov 2026, 00:30"},
	} {
		if got := c.Date(tc.lang, ts); got != tc.date {
			t.Errorf("Date(%s) = %q, want %q", tc.lang, got, tc.date)
		}
		if got := c.DateTime(tc.lang, ts); got != tc.dateTime {
			t.Errorf("DateTime(%s) = %q, want %q", tc.lang, got, tc.dateTime)
		}
	}
}
