package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/moments-cs/moments/internal/notify"
)

// A receiver checks the signature on the raw body before it trusts the
// request, and uses the idempotency key to ignore a delivery it already
// handled.
func ExampleVerify() {
	secret := []byte("whsec_shared_with_the_receiver")
	seen := map[string]bool{}

	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := notify.Verify(secret, r.Header.Get(notify.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := r.Header.Get(notify.IdempotencyKeyHeader)
		if !seen[key] {
			seen[key] = true
			fmt.Printf("handled %s: %s\n", key, body)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// The receiver here runs on this machine: webhooks reach loopback only
	// when allowed (--webhook-allow).
	sender, err := notify.NewSender(notify.SenderConfig{Allow: []string{"127.0.0.1/32"}})
	if err != nil {
		panic(err)
	}
	hook := notify.Webhook{URL: receiver.URL, Secret: secret}
	payload := map[string]string{"event": "moment.started", "account": "acct_1"}
	for range 2 { // the second send is a retry after a restart
		d, err := sender.Send(context.Background(), hook, "run-42.step-3", payload)
		fmt.Println(d.StatusCode, d.Attempts, err)
	}
	// Output:
	// handled run-42.step-3: {"account":"acct_1","event":"moment.started"}
	// 204 1 <nil>
	// 204 1 <nil>
}

// RenderEmail fills a journey map's email template with account data.
func ExampleRenderEmail() {
	subject, body, err := notify.RenderEmail(
		"Your QBR with {{.account.name}}",
		"Hi {{.contact.first_name | default \"there\"}},\n\nlet's review {{.account.plan}} together.",
		map[string]any{
			"account": map[string]any{"name": "Customer Inc", "plan": "Growth"},
			"contact": map[string]any{},
		},
	)
	fmt.Println(subject)
	fmt.Println(body)
	fmt.Println(err)
	// Output:
	// Your QBR with Customer Inc
	// Hi there,
	//
	// let's review Growth together.
	// <nil>
}
