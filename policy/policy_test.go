package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestDecideTagsAndHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cfg         Config
		msg         Message
		wantLevel   int
		wantUpload  bool
		wantSubject string
	}{
		{"untagged", Config{}, Message{Subject: "Ihr Antrag"}, 0, false, "Ihr Antrag"},
		{"secure1", Config{}, Message{Subject: "[secure1] Bescheid"}, 1, false, "Bescheid"},
		{"plain secure is 2", Config{}, Message{Subject: "Bescheid [secure]"}, 2, false, "Bescheid"},
		{"case and spaces", Config{}, Message{Subject: "Re: [ SeCuRe 3 ] Steuer"}, 3, false, "Re: Steuer"},
		{"dash", Config{}, Message{Subject: "[secure-4] Befund"}, 4, false, "Befund"},
		{"highest wins", Config{}, Message{Subject: "[secure1] a [secure3] b [secure2]"}, 3, false, "a b"},
		{"tag in the middle", Config{}, Message{Subject: "Ihr [secure2] Antrag"}, 2, false, "Ihr Antrag"},
		{"upload alone", Config{}, Message{Subject: "[upload] Bitte Unterlagen"}, 0, true, "Bitte Unterlagen"},
		{"upload with level", Config{}, Message{Subject: "[secure2][UPLOAD] Unterlagen"}, 2, true, "Unterlagen"},
		{"header level", Config{}, Message{Subject: "x", LevelHeaders: []string{" 3 "}}, 3, false, "x"},
		{"header and tag, highest wins", Config{}, Message{Subject: "[secure4] x", LevelHeaders: []string{"2"}}, 4, false, "x"},
		{"header zero", Config{}, Message{Subject: "x", LevelHeaders: []string{"0"}}, 0, false, "x"},
		{"upload header", Config{}, Message{Subject: "x", UploadHeaders: []string{"Yes"}}, 0, true, "x"},
		{"upload header no", Config{}, Message{Subject: "x", UploadHeaders: []string{"no"}}, 0, false, "x"},
		{"default level", Config{DefaultLevel: 1}, Message{Subject: "x"}, 1, false, "x"},
		{"default level is raised by a tag", Config{DefaultLevel: 1}, Message{Subject: "[secure3] x"}, 3, false, "x"},
		{"rule raises for recipient domain", Config{Rules: []Rule{{RecipientDomains: []string{"klinik.example"}, MinLevel: 3}}},
			Message{Subject: "x", Recipients: []string{"a@other.example", "Arzt@Klinik.Example"}}, 3, false, "x"},
		{"rule does not match other domain", Config{Rules: []Rule{{RecipientDomains: []string{"klinik.example"}, MinLevel: 3}}},
			Message{Subject: "x", Recipients: []string{"a@sub.klinik.example"}}, 0, false, "x"},
		{"rule with subdomains", Config{Rules: []Rule{{RecipientDomains: []string{"*.klinik.example"}, MinLevel: 3}}},
			Message{Subject: "x", Recipients: []string{"a@sub.klinik.example"}}, 3, false, "x"},
		{"rule never lowers", Config{Rules: []Rule{{RecipientDomains: []string{"klinik.example"}, MinLevel: 1}}},
			Message{Subject: "[secure4] x", Recipients: []string{"a@klinik.example"}}, 4, false, "x"},
		{"rule by sender address", Config{Rules: []Rule{{SenderAddresses: []string{"Jugendamt@Kreis.example"}, MinLevel: 2}}},
			Message{Subject: "x", Sender: "jugendamt@kreis.example"}, 2, false, "x"},
		{"rule by sender domain", Config{Rules: []Rule{{SenderAddresses: []string{"@kreis.example"}, MinLevel: 2}}},
			Message{Subject: "x", Sender: "clerk@kreis.example"}, 2, false, "x"},
		{"rule needs both sender and recipient", Config{Rules: []Rule{{SenderAddresses: []string{"@kreis.example"}, RecipientDomains: []string{"klinik.example"}, MinLevel: 2}}},
			Message{Subject: "x", Sender: "clerk@kreis.example", Recipients: []string{"a@else.example"}}, 0, false, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decide(tt.cfg, tt.msg)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Level != tt.wantLevel || d.Upload != tt.wantUpload || d.Subject != tt.wantSubject {
				t.Errorf("got level %d upload %v subject %q; want %d %v %q", d.Level, d.Upload, d.Subject, tt.wantLevel, tt.wantUpload, tt.wantSubject)
			}
		})
	}
}

func TestDecideUnknownLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"tag 7", Message{Subject: "[secure7] Bescheid"}, "unknown security level 7 in the subject; use [secure1] to [secure4]"},
		{"tag 0", Message{Subject: "[secure0] Bescheid"}, "unknown security level 0"},
		{"tag 12", Message{Subject: "[secure12]"}, "unknown security level 12"},
		{"unknown beside a known one", Message{Subject: "[secure2] [secure9]"}, "level 9"},
		{"header word", Message{Subject: "x", LevelHeaders: []string{"high"}}, `unknown security level "high" in the X-Sealgate-Level header`},
		{"header 5", Message{Subject: "x", LevelHeaders: []string{"5"}}, "X-Sealgate-Level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decide(Config{}, tt.msg)
			var ule *UnknownLevelError
			if !errors.As(err, &ule) {
				t.Fatalf("want *UnknownLevelError, got %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sentence %q does not contain %q", err.Error(), tt.want)
			}
		})
	}
}

func TestSizeRules(t *testing.T) {
	t.Parallel()
	cfg := Config{Rules: []Rule{
		{AttachmentsOver: 10 << 20, MinLevel: 1},
		{RecipientDomains: []string{"klinik.example"}, AttachmentsOver: 1 << 20, MinLevel: 3},
	}}
	tests := []struct {
		name      string
		msg       Message
		size      int64
		wantRules int
		wantLevel int
	}{
		{"small mail stays", Message{Subject: "x", Recipients: []string{"a@b.example"}}, 5 << 20, 1, 0},
		{"big mail raised", Message{Subject: "x", Recipients: []string{"a@b.example"}}, 11 << 20, 1, 1},
		{"domain rule on top", Message{Subject: "x", Recipients: []string{"a@klinik.example"}}, 2 << 20, 2, 3},
		{"already high: no pending rules", Message{Subject: "[secure4] x", Recipients: []string{"a@klinik.example"}}, 20 << 20, 0, 4},
		{"exactly the limit is not over", Message{Subject: "x", Recipients: []string{"a@b.example"}}, 10 << 20, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decide(cfg, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.SizeRules) != tt.wantRules {
				t.Fatalf("pending size rules: got %d want %d", len(d.SizeRules), tt.wantRules)
			}
			if got := ApplySize(d, tt.size); got.Level != tt.wantLevel || got.SizeRules != nil {
				t.Errorf("after ApplySize(%d): level %d rules %v; want %d, none", tt.size, got.Level, got.SizeRules, tt.wantLevel)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Config{DefaultLevel: 1, Rules: []Rule{{RecipientDomains: []string{"a.example", "*.b.example"}, SenderAddresses: []string{"x@a.example", "@a.example"}, MinLevel: 2}}}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid config refused: %v", errs)
	}
	bad := Config{DefaultLevel: 5, Rules: []Rule{
		{MinLevel: 0},
		{MinLevel: 2, AttachmentsOver: -1, RecipientDomains: []string{"x@y"}, SenderAddresses: []string{"nodomain"}},
	}}
	errs := bad.Validate()
	want := []string{"policy.default_level", "policy.rules[0].min_level", "policy.rules[1].attachments_over", "policy.rules[1].recipient_domains", "policy.rules[1].sender_addresses"}
	if len(errs) != len(want) {
		t.Fatalf("got %d problems %v, want %d", len(errs), errs, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w+":") {
			t.Errorf("problem %d = %q, want it to name %s", i, errs[i], w)
		}
	}
}
