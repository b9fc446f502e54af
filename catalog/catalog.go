// Package catalog holds every text that users of sealgate read: the notice
// in rewritten mails, and (added by their owners) the web pages and the
// mails sealgate sends itself. Mail and pages import it alike, so one
// wording serves both.
//
// Texts live in embedded JSON files, one per language
// (locales/<lang>.json), as flat maps from keys such as "notice.intro" to
// text. A text with arguments uses fmt verbs, with explicit indexes
// ("%[2]s") where a language needs another word order. Adding a language
// is adding a file with every key; a test fails when a key or its verbs
// differ between languages.
package catalog

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales/*.json
var locales embed.FS

// DefaultLanguage is used for unknown languages and missing texts: sealgate
// serves German authorities and their citizens first.
const DefaultLanguage = "de"

// Catalog holds the texts of every language. It is read-only after New and
// safe for concurrent use.
type Catalog struct {
	texts   map[string]map[string]string // language -> key -> text
	langs   []string                     // DefaultLanguage first, then sorted
	matcher language.Matcher
}

// New loads the embedded catalogs.
func New() (*Catalog, error) {
	entries, err := locales.ReadDir("locales")
	if err != nil {
		return nil, fmt.Errorf("catalog: reading locales: %w", err)
	}
	c := &Catalog{texts: map[string]map[string]string{}}
	for _, e := range entries {
		lang := strings.TrimSuffix(e.Name(), ".json")
		data, err := locales.ReadFile(path.Join("locales", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("catalog: reading %s: %w", e.Name(), err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("catalog: parsing %s: %w", e.Name(), err)
		}
		c.texts[lang] = m
		c.langs = append(c.langs, lang)
	}
	if _, ok := c.texts[DefaultLanguage]; !ok {
		return nil, fmt.Errorf("catalog: no texts for the default language %q", DefaultLanguage)
	}
	sort.Slice(c.langs, func(i, j int) bool {
		if (c.langs[i] == DefaultLanguage) != (c.langs[j] == DefaultLanguage) {
			return c.langs[i] == DefaultLanguage
		}
		return c.langs[i] < c.langs[j]
	})
	tags := make([]language.Tag, len(c.langs))
	for i, l := range c.langs {
		tags[i] = language.Make(l)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Languages returns the languages the catalog has, the default first.
func (c *Catalog) Languages() []string {
	return append([]string(nil), c.langs...)
}

// Lang maps a language tag ("en-GB", "EN", "de_AT") to a language of the
// catalog, or DefaultLanguage.
func (c *Catalog) Lang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(tag, "_", "-")))
	if i := strings.IndexByte(tag, '-'); i >= 0 {
		tag = tag[:i]
	}
	if _, ok := c.texts[tag]; ok {
		return tag
	}
	return DefaultLanguage
}

// Match picks the language for an Accept-Language header value, or
// DefaultLanguage when nothing in it matches.
func (c *Catalog) Match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return DefaultLanguage
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return DefaultLanguage
	}
	return c.langs[i]
}

// T returns the text for key in lang (see Lang), formatted with args by
// fmt.Sprintf when there are any. A key missing in lang falls back to
// DefaultLanguage, and a key missing there too returns the key itself, so a
// gap shows up on the page instead of a blank.
func (c *Catalog) T(lang, key string, args ...any) string {
	text, ok := c.texts[c.Lang(lang)][key]
	if !ok {
		if text, ok = c.texts[DefaultLanguage][key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return text
	}
	return fmt.Sprintf(text, args...)
}

// keys returns the keys of lang, sorted.
func (c *Catalog) keys(lang string) []string {
	var ks []string
	for k := range c.texts[lang] {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
