package postfixtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// QueuedMessage is one message in the instance's queue, as `postqueue -j`
// reports it.
type QueuedMessage struct {
	// QueueName is maildrop, incoming, active, deferred or hold. A deferred
	// message moves back to incoming and active for each retry, so with
	// short retry times any of them may show a message waiting.
	QueueName   string      `json:"queue_name"`
	QueueID     string      `json:"queue_id"`
	ArrivalTime int64       `json:"arrival_time"`
	MessageSize int64       `json:"message_size"`
	Sender      string      `json:"sender"`
	Recipients  []Recipient `json:"recipients"`
}

// Recipient is a recipient still waiting in the queue.
type Recipient struct {
	Address     string `json:"address"`
	DelayReason string `json:"delay_reason"` // why the last attempt failed
}

// Queue lists the messages in the instance's queue.
func (i *Instance) Queue(t testing.TB) []QueuedMessage {
	t.Helper()
	msgs, err := i.queue(context.Background())
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	return msgs
}

func (i *Instance) queue(ctx context.Context) ([]QueuedMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, postqueue, "-c", i.conf, "-j")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("postqueue -j: %w: %s", err, stderr.String())
	}
	var msgs []QueuedMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m QueuedMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("postqueue -j: %w in %q", err, sc.Text())
		}
		msgs = append(msgs, m)
	}
	return msgs, sc.Err()
}

// Flush asks Postfix to retry every deferred message now (postqueue -f).
func (i *Instance) Flush(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, postqueue, "-c", i.conf, "-f").CombinedOutput(); err != nil {
		t.Fatalf("postfixtest: postqueue -f: %v\n%s", err, out)
	}
}

// WaitQueue polls the queue until cond holds and returns that listing; it
// fails t when ctx ends first.
func (i *Instance) WaitQueue(ctx context.Context, t testing.TB, cond func([]QueuedMessage) bool) []QueuedMessage {
	t.Helper()
	var last []QueuedMessage
	for {
		msgs, err := i.queue(ctx)
		if err == nil && cond(msgs) {
			return msgs
		}
		if err == nil {
			last = msgs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("postfixtest: queue never reached the expected state: %v; last listing: %+v", ctx.Err(), last)
			return nil
		case <-time.After(pollEvery):
		}
	}
}

// WaitLog polls the maillog until a line matches re and returns that line;
// it fails t when ctx ends first.
func (i *Instance) WaitLog(ctx context.Context, t testing.TB, re *regexp.Regexp) string {
	t.Helper()
	return i.WaitLogN(ctx, t, re, 1)[0]
}

// WaitLogN polls the maillog until n lines match re and returns them all;
// it fails t when ctx ends first. Counting retries ("status=deferred" twice)
// shows that Postfix kept a message, not just that it tried once.
func (i *Instance) WaitLogN(ctx context.Context, t testing.TB, re *regexp.Regexp, n int) []string {
	t.Helper()
	for {
		var found []string
		for _, line := range strings.Split(i.Log(), "\n") {
			if re.MatchString(line) {
				found = append(found, line)
			}
		}
		if len(found) >= n {
			return found
		}
		select {
		case <-ctx.Done():
			t.Fatalf("postfixtest: %d maillog line(s) match %s, want %d: %v", len(found), re, n, ctx.Err())
			return nil
		case <-time.After(pollEvery):
		}
	}
}

var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

// Submit sends one message to SubmitAddr with swaks and returns Postfix's
// queue ID. args are swaks options such as --from, --to, --header,
// --attach; --server is set here.
func (i *Instance) Submit(t testing.TB, args ...string) string {
	t.Helper()
	out := Swaks(t, append([]string{"--server", i.SubmitAddr}, args...)...)
	m := queuedAs.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("postfixtest: swaks output names no queue ID:\n%s", out)
	}
	return m[1]
}

// Swaks runs swaks with args and returns its transcript; a non-zero exit
// (any SMTP failure) fails t. Swaks's absence skips t, or fails it under
// SEALGATE_REQUIRE_PEERS=1.
func Swaks(t testing.TB, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		RequirePeers(t, "swaks is not installed (Debian package swaks); cannot submit mail like a real client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append([]string{"--timeout", "30"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("postfixtest: swaks %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
