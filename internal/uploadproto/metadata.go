package uploadproto

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
)

// maxMetadata bounds the Upload-Metadata header we parse.
const maxMetadata = 8 << 10

// parseMetadata reads tus Upload-Metadata: comma-separated pairs of a key
// and a base64 value (the value may be absent). Values must be UTF-8.
func parseMetadata(h string) (map[string]string, error) {
	out := make(map[string]string)
	if strings.TrimSpace(h) == "" {
		return out, nil
	}
	if len(h) > maxMetadata {
		return nil, errors.New("too long")
	}
	for _, pair := range strings.Split(h, ",") {
		pair = strings.TrimSpace(pair)
		key, val, _ := strings.Cut(pair, " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, errors.New("malformed pair")
		}
		if _, dup := out[key]; dup {
			return nil, errors.New("duplicate key " + key)
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil {
			return nil, errors.New("value of " + key + " is not base64")
		}
		if !utf8.Valid(b) {
			return nil, errors.New("value of " + key + " is not UTF-8")
		}
		out[key] = string(b)
	}
	return out, nil
}
