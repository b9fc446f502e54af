package linkserver

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"sealgate/catalog"
)

// The tests in this file keep every word a visitor reads in the catalog
// (catalog/locales), so that each page exists in every language: the
// templates may hold markup and {{…}} actions, but no text of their own,
// and the Go code hands pages and visitors catalog texts only.

// allowedWords may stand in a template outside an action: names that read
// the same in every language. Keep it short; a word that needs translating
// never belongs here.
var allowedWords = []string{}

// checkedAttrs are the attributes whose values people read or hear
// (tooltips, screen readers, buttons).
var checkedAttrs = map[string]bool{
	"alt": true, "title": true, "aria-label": true, "placeholder": true,
	"aria-placeholder": true, "aria-roledescription": true, "aria-valuetext": true, "label": true,
}

// actionRE matches a template action or comment.
var actionRE = regexp.MustCompile(`(?s)\{\{.*?\}\}`)

// stripActions removes the actions of a template, keeping its line breaks
// so that positions still point at the right line.
func stripActions(src string) string {
	return actionRE.ReplaceAllStringFunc(src, func(a string) string {
		return strings.Repeat("\n", strings.Count(a, "\n"))
	})
}

type htmlTag struct {
	name  string
	attrs map[string]string
	line  int
}

type htmlText struct {
	text string
	line int
}

var attrRE = regexp.MustCompile(`([^\s"'=<>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)

// scanHTML splits markup into tags and the text between them. It knows as
// much HTML as the templates use: comments, quoted attributes, and style
// and script elements, whose content is not text.
func scanHTML(src string) ([]htmlTag, []htmlText) {
	var tags []htmlTag
	var texts []htmlText
	line := func(off int) int { return 1 + strings.Count(src[:off], "\n") }
	for i := 0; i < len(src); {
		if src[i] != '<' {
			j := strings.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src) - i
			}
			texts = append(texts, htmlText{src[i : i+j], line(i)})
			i += j
			continue
		}
		if strings.HasPrefix(src[i:], "<!--") {
			j := strings.Index(src[i:], "-->")
			if j < 0 {
				break
			}
			i += j + 3
			continue
		}
		// The tag ends at the first '>' outside quotes.
		j, quote := i+1, byte(0)
		for ; j < len(src); j++ {
			c := src[j]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote == 0 && c == '>':
				goto end
			}
		}
	end:
		body := strings.TrimSuffix(strings.TrimPrefix(src[i+1:min(j, len(src))], "/"), "/")
		name, rest, _ := strings.Cut(strings.TrimSpace(body), " ")
		name = strings.ToLower(strings.Fields(name + " x")[0])
		if !strings.HasPrefix(src[i+1:], "/") && !strings.HasPrefix(name, "!") {
			t := htmlTag{name: name, attrs: map[string]string{}, line: line(i)}
			for _, m := range attrRE.FindAllStringSubmatch(rest, -1) {
				t.attrs[strings.ToLower(m[1])] = m[2] + m[3] + m[4]
			}
			tags = append(tags, t)
		}
		closing := strings.HasPrefix(src[i+1:], "/")
		i = j + 1
		if !closing && (name == "style" || name == "script") {
			k := strings.Index(src[i:], "</"+name)
			if k < 0 {
				break
			}
			i += k
		}
	}
	return tags, texts
}

// wording returns what in s a person would read as words: s without the
// allowed words, if anything with a letter remains.
func wording(s string) string {
	for _, w := range allowedWords {
		s = strings.ReplaceAll(s, w, "")
	}
	if strings.IndexFunc(s, unicode.IsLetter) < 0 {
		return ""
	}
	return strings.Join(strings.Fields(s), " ")
}

// TestTemplatesHoldNoText fails when a template shows text that does not
// come from the catalog: a text node, or an attribute that is read or
// heard (alt, title, aria-label, placeholder, a button's value) with
// letters outside {{…}}.
func TestTemplatesHoldNoText(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(templateFS, "assets/templates/*.html")
	if err != nil || len(names) < len(pageNames) {
		t.Fatalf("templates: %v %v", names, err)
	}
	for _, name := range names {
		src, err := templateFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		tags, texts := scanHTML(stripActions(string(src)))
		for _, x := range texts {
			if w := wording(x.text); w != "" {
				t.Errorf("%s:%d: text %q is not from the catalog", name, x.line, w)
			}
		}
		for _, tag := range tags {
			for attr, val := range tag.attrs {
				button := tag.name == "button" || tag.name == "input" && strings.Contains("submit button reset", tag.attrs["type"])
				if !checkedAttrs[attr] && !(attr == "value" && button) {
					continue
				}
				if w := wording(val); w != "" {
					t.Errorf("%s:%d: <%s %s=%q> is not from the catalog", name, tag.line, tag.name, attr, w)
				}
			}
		}
	}
}

// TestTemplateAuditFindsText shows that the audit sees text where it can
// hide: between tags, in attributes, after actions and in comments-free
// corners, and that it leaves markup, styles and actions alone.
func TestTemplateAuditFindsText(t *testing.T) {
	t.Parallel()
	const tmpl = `{{define "x"}}<p class="a b">{{.T "k"}}</p>
<style nonce="{{.N}}">:root { --accent: red; }</style>
<img src="/x" alt="Logo">
<a href="/" title='Home page' aria-label={{.T "k"}}>{{.T "k"}} – {{.Brand}}</a>
<input type="submit" value="Send"><input type="text" value="{{.Code}}">
<!-- a comment with words -->
<button aria-describedby="{{if .M}}e {{end}}h">{{.T "k"}}</button>Weiter
{{end}}`
	tags, texts := scanHTML(stripActions(tmpl))
	var found []string
	for _, x := range texts {
		if w := wording(x.text); w != "" {
			found = append(found, strconv.Itoa(x.line)+":"+w)
		}
	}
	for _, tag := range tags {
		for _, attr := range []string{"alt", "title", "aria-label", "value"} {
			if w := wording(tag.attrs[attr]); w != "" && (attr != "value" || tag.attrs["type"] == "submit") {
				found = append(found, strconv.Itoa(tag.line)+":"+attr+"="+w)
			}
		}
	}
	sort.Strings(found)
	want := "3:alt=Logo 4:title=Home page 5:value=Send 7:Weiter"
	if got := strings.Join(found, " "); got != want {
		t.Errorf("found %q, want %q", got, want)
	}
}

// sourceFiles parses the package's Go files, tests excluded.
func sourceFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// stringLit returns the value of a string literal, or false.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// sentences lists the string literals that e is made of (alone or
// concatenated; arguments of calls are the callee's business) that hold
// words and are not catalog keys.
func sentences(e ast.Expr) []string {
	switch e := e.(type) {
	case *ast.BinaryExpr:
		return append(sentences(e.X), sentences(e.Y)...)
	case *ast.ParenExpr:
		return sentences(e.X)
	case *ast.CallExpr: // a conversion such as []byte("…")
		if _, ok := e.Fun.(*ast.ArrayType); ok && len(e.Args) == 1 {
			return sentences(e.Args[0])
		}
	}
	if s, ok := stringLit(e); ok && prose(s) {
		return []string{s}
	}
	return nil
}

// prose reports whether a literal of the Go code reads as words for
// people: letters, and a space or a capital first letter; not a catalog
// key, not a path.
func prose(s string) bool {
	if wording(s) == "" || catalogKeyRE.MatchString(s) || strings.HasPrefix(s, "/") {
		return false
	}
	first, _ := utf8.DecodeRuneInString(strings.TrimSpace(s))
	return strings.ContainsRune(strings.TrimSpace(s), ' ') || unicode.IsUpper(first)
}

// catalogKeyRE matches a catalog key of the pages, whole or as the prefix
// that code completes ("page.error." + p.key).
var catalogKeyRE = regexp.MustCompile(`^page\.[a-z0-9_.]+$`)

// TestGoCodeWritesNoText fails when handler code puts words of its own in
// front of a visitor: a literal in http.Error, in what is written to the
// ResponseWriter (w, by this package's convention), or in a field of a
// page's view. The JSON API's messages (apiErrors, codeSentMessage) are
// English by design: scripts read them, and pages never show them.
func TestGoCodeWritesNoText(t *testing.T) {
	t.Parallel()
	fset, files := sourceFiles(t)
	for _, f := range goTextFindings(fset, files) {
		t.Errorf("%s: user-visible text belongs in the catalog", f)
	}
}

// TestGoCodeAuditFindsText shows the audit of the Go code at work on
// handler code that writes words of its own.
func TestGoCodeAuditFindsText(t *testing.T) {
	t.Parallel()
	const src = `package x
func h(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "Not found", 404)
	http.Error(w, v.T("page.error.internal.title"), 500)
	fmt.Fprintf(w, "Hallo %s", name)
	w.Write([]byte("Hello " + "world"))
	v.Error = &errorView{Title: "Oops", Text: v.T("page.error.gone.text")}
	v.Home.Message = "Falscher Code"
	v.Home.Message = "page.home.wrong_code"
	log.Error("reading plaintext failed", "err", err)
	next := safeNext(r.PostForm.Get("next"))
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(goTextFindings(fset, []*ast.File{f}), "\n")
	want := strings.Join([]string{
		`x.go:3:2: http.Error "Not found"`,
		`x.go:5:2: fmt.Fprintf "Hallo %s"`,
		`x.go:6:2: w.Write "Hello "`,
		`x.go:7:13: errorView.Title "Oops"`,
		`x.go:8:2: v.Home.Message = "Falscher Code"`,
	}, "\n")
	if got != want {
		t.Errorf("found\n%s\nwant\n%s", got, want)
	}
}

// goTextFindings lists the places where the code puts a literal in front
// of a visitor.
func goTextFindings(fset *token.FileSet, files []*ast.File) []string {
	var found []string
	report := func(n ast.Node, what string, lits []string) {
		for _, l := range lits {
			found = append(found, fmt.Sprintf("%s: %s %q", fset.Position(n.Pos()), what, l))
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				fun := exprString(n.Fun)
				switch {
				case fun == "http.Error" && len(n.Args) == 3:
					report(n, "http.Error", sentences(n.Args[1]))
				case strings.HasPrefix(fun, "fmt.Fprint") || fun == "io.WriteString":
					if len(n.Args) > 0 && exprString(n.Args[0]) == "w" {
						for _, a := range n.Args[1:] {
							report(n, fun, sentences(a))
						}
					}
				case fun == "w.Write" || fun == "w.WriteString":
					for _, a := range n.Args {
						report(n, fun, sentences(a))
					}
				}
			case *ast.CompositeLit:
				if typ := exprString(n.Type); typ == "view" || strings.HasSuffix(typ, "View") || typ == "langSwitch" {
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							report(n, typ+"."+exprString(kv.Key), sentences(kv.Value))
						}
					}
				}
			case *ast.AssignStmt:
				// v is the page's view in every handler.
				for i, lhs := range n.Lhs {
					if strings.HasPrefix(exprString(lhs), "v.") && i < len(n.Rhs) {
						report(n, exprString(lhs)+" =", sentences(n.Rhs[i]))
					}
				}
			}
			return true
		})
	}
	return found
}

// exprString renders simple expressions (identifiers, selectors, pointers)
// for matching; anything else renders as "".
func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return exprString(e.X)
	}
	return ""
}

// TestCatalogKeysInCodeExist: every catalog key the Go code names exists,
// every prefix it completes at run time is completed only with keys that
// exist, and every problem a page can show has its texts.
func TestCatalogKeysInCodeExist(t *testing.T) {
	t.Parallel()
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	has := func(key string) bool {
		for _, l := range cat.Languages() {
			if cat.T(l, key) == key {
				return false
			}
		}
		return true
	}
	fset, files := sourceFiles(t)
	var problemKeys []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				s, ok := stringLit(n)
				// errorPage takes the stem of a title and a text.
				if ok && catalogKeyRE.MatchString(s) && !strings.HasSuffix(s, ".") && !has(s) && !(has(s+".title") && has(s+".text")) {
					t.Errorf("%s: catalog key %q does not exist", fset.Position(n.Pos()), s)
				}
			case *ast.CompositeLit:
				if exprString(n.Type) != "problem" {
					return true
				}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && exprString(kv.Key) == "key" {
						if s, ok := stringLit(kv.Value); ok {
							problemKeys = append(problemKeys, s)
						}
					}
				}
			}
			return true
		})
	}
	if len(problemKeys) < 10 {
		t.Fatalf("found only the problems %v", problemKeys)
	}
	// Problems that only the JSON API gives: the pages have forms for them.
	apiOnly := map[string]bool{"bad_json": true, "no_key": true, "key_exists": true}
	for _, k := range problemKeys {
		if apiErrors[k] == "" {
			t.Errorf("problem %q has no API message", k)
		}
		if apiOnly[k] || has("page.login."+k) {
			continue
		}
		if !has("page.error."+k+".title") || !has("page.error."+k+".text") {
			t.Errorf("problem %q has no page.error.%s.title and .text", k, k)
		}
	}
	for level := 1; level <= 4; level++ {
		if !has("page.level." + strconv.Itoa(level)) {
			t.Errorf("no text for level %d", level)
		}
	}
	for _, k := range e2eMessages {
		if !has("page.e2e.js." + k) {
			t.Errorf("no text page.e2e.js.%s", k)
		}
	}
}

// duRE finds the familiar "du" forms, which a public authority does not use
// with citizens.
var duRE = regexp.MustCompile(`(?i)\b(du|dich|dir|dein|deine|deinen|deinem|deiner|deines|euch|euer|eure|euren|eurem|eurer)\b`)

// TestGermanPagesSaySie: the German texts of the pages address the reader
// as "Sie", never with "du" or "ihr".
func TestGermanPagesSaySie(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "catalog", "locales", "de.json"))
	if err != nil {
		t.Fatal(err)
	}
	var texts map[string]string
	if err := json.Unmarshal(b, &texts); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range texts {
		if !strings.HasPrefix(k, "page.") {
			continue
		}
		n++
		if m := duRE.FindString(v); m != "" {
			t.Errorf("%s says %q: use the Sie form", k, m)
		}
	}
	if n < 100 {
		t.Fatalf("only %d page texts in de.json", n)
	}
}
