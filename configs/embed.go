// Package configs holds the example and development configurations and the
// Postfix and systemd snippets. The development configuration is embedded so
// that `sealgate serve --dev` (and `make run`) works on a fresh checkout.
package configs

import _ "embed"

// Dev is configs/dev.yaml: loopback listeners, data in ./data and the
// development outbox as next hop.
//
//go:embed dev.yaml
var Dev []byte

// Example is configs/sealgate.example.yaml, the documented reference of
// every key.
//
//go:embed sealgate.example.yaml
var Example []byte
