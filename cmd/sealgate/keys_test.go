package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/adminapi"
	"sealgate/vault"
)

// sendSecure1 relays a [secure1] mail with one attachment through the
// running server.
func sendSecure1(t *testing.T, smtpAddr, filename string) {
	t.Helper()
	msg := "From: clerk@example.org\r\nTo: citizen@example.net\r\nSubject: [secure1] Unterlagen\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei.\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"" + filename + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("Seite\n", 500)))) + "--b1--\r\n"
	c, err := smtp.Dial(smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func showJSON(t *testing.T, e *adminEnv, id string) adminapi.Transfer {
	t.Helper()
	var tr adminapi.Transfer
	if err := json.Unmarshal([]byte(e.mustCLI("transfers", "show", id, "--json")), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestKeysRotateNamesKeysPerTransfer: after `keys rotate` on a running
// server, `transfers show` names the new key for a transfer relayed
// afterwards and the old, retired key for the earlier one; the purge that
// removes the last transfer needing the old key deletes the key.
func TestKeysRotateNamesKeysPerTransfer(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	var oldID string
	e.withVault(func(ctx context.Context, v *vault.Vault) {
		oldID, _ = addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}}, "alt.pdf", []byte("alt"))
	})
	e.start()
	oldKey := showJSON(t, e, oldID).Files[0].Keys[0]
	if oldKey.Kind != adminapi.KeyGateway || !oldKey.Current {
		t.Fatalf("key before rotation: %+v", oldKey)
	}
	var rot adminapi.KeyRotation
	if err := json.Unmarshal([]byte(e.mustCLI("keys", "rotate", "--json")), &rot); err != nil || rot.KeyID == "" || rot.KeyID == oldKey.ID {
		t.Fatalf("rotate: %+v, %v (old key %s)", rot, err, oldKey.ID)
	}

	sendSecure1(t, e.smtp, "neu.pdf")
	var list []adminapi.Transfer
	if err := json.Unmarshal([]byte(e.mustCLI("transfers", "list", "--json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("transfers after relaying: %d, %v", len(list), err)
	}
	newID := list[1].ID
	if newID == oldID || list[1].Files[0].Name != "neu.pdf" {
		t.Fatalf("the relayed transfer is not listed second: %+v", list)
	}

	out := e.mustCLI("transfers", "show", oldID)
	if !strings.Contains(out, "gateway key "+oldKey.ID+" (retired)") {
		t.Errorf("old transfer does not name the old key as retired:\n%s", out)
	}
	out = e.mustCLI("transfers", "show", newID)
	if !strings.Contains(out, "gateway key "+rot.KeyID+" (current)") || strings.Contains(out, oldKey.ID) {
		t.Errorf("new transfer does not name (only) the new key:\n%s", out)
	}

	// Purging the old transfer deletes the old key with it; the new one
	// stays, as does its transfer.
	asOf := showJSON(t, e, oldID).ExpiresAt.Add(time.Millisecond)
	if asOf.After(showJSON(t, e, newID).ExpiresAt) {
		t.Fatal("the transfers' expiry order is not as created")
	}
	var res adminapi.PurgeResult
	if err := json.Unmarshal([]byte(e.mustCLI("purge", "--as-of", asOf.Format(time.RFC3339Nano), "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Transfers) != 1 || res.Transfers[0] != oldID || len(res.Keys) != 1 || res.Keys[0] != oldKey.ID {
		t.Errorf("purge removed %v and keys %v; want %s and key %s", res.Transfers, res.Keys, oldID, oldKey.ID)
	}
	if showJSON(t, e, newID).Files[0].Keys[0].ID != rot.KeyID {
		t.Error("the new transfer lost its key")
	}
}
