package planted

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Messages returns the base as a tracking source would send it: a group
// call at signing (lifecycle_stage adoption), the sponsor and champion
// identified with their roles, every event, and a group call making each
// churner churned at its churn time. receivedAt is the arrival time.
func Messages(accounts []*Account, receivedAt time.Time) []store.Message {
	var msgs []store.Message
	n := 0
	id := func() string { n++; return fmt.Sprintf("planted-%d", n) }
	for _, a := range accounts {
		tr := a.Traits()
		tr["lifecycle_stage"] = "adoption"
		msgs = append(msgs, store.Message{Type: "group", MessageID: id(), GroupID: a.ID, Traits: tr, Timestamp: a.ContractStart, ReceivedAt: receivedAt})
		for _, role := range []string{"sponsor", "champion"} {
			msgs = append(msgs, store.Message{Type: "identify", MessageID: id(), UserID: a.ID + "_" + role, GroupID: a.ID,
				Traits: map[string]any{"role": role}, Timestamp: a.ContractStart, ReceivedAt: receivedAt})
		}
		for _, e := range a.Events {
			props := json.RawMessage("{}")
			if e.Properties != nil {
				props, _ = json.Marshal(e.Properties)
			}
			msgs = append(msgs, store.Message{Type: e.Type, MessageID: id(), UserID: e.UserID, GroupID: a.ID, Name: e.Name,
				Properties: props, Timestamp: e.Timestamp, ReceivedAt: receivedAt})
		}
		if a.Churned {
			msgs = append(msgs, store.Message{Type: "group", MessageID: id(), GroupID: a.ID,
				Traits: map[string]any{"lifecycle_stage": "churned"}, Timestamp: a.ChurnAt, ReceivedAt: receivedAt})
		}
	}
	return msgs
}

// Ingest sends the base's Messages through st in batches of 500, as an
// import of past events would, and returns once the ingest stages (health,
// triggers, analytics) have acted on them.
func Ingest(ctx context.Context, st *store.Store, accounts []*Account, receivedAt time.Time) error {
	return IngestMessages(ctx, st, Messages(accounts, receivedAt))
}

// IngestMessages is Ingest of messages already made (Messages, changed by
// the caller).
func IngestMessages(ctx context.Context, st *store.Store, msgs []store.Message) error {
	for i := 0; i < len(msgs); i += 500 {
		if _, err := st.Ingest(ctx, "wk", msgs[i:min(i+500, len(msgs))]); err != nil {
			return err
		}
	}
	return st.WaitIdle(ctx)
}
