package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// ErrIdempotencyMismatch means an idempotency key was reused for a
// different request.
var ErrIdempotencyMismatch = errors.New("this Idempotency-Key was already used for a different broadcast; use a new key")

// Broadcast statuses.
const (
	BroadcastRunning = "running"
	BroadcastDone    = "done"
)

// resumeAfter is how old an unfinished broadcast must be before a tick
// helps finish it (its own request is probably gone).
const resumeAfter = time.Minute

// BroadcastRequest is a vendor broadcast: one run of a moment for every
// account matching a segment.
type BroadcastRequest struct {
	Moment string
	// Segment is a CEL condition over account (and health); empty means
	// the moment's trigger segment, and an empty one of those every account.
	Segment string
	// IdempotencyKey makes a retried request harmless: the same key is the
	// same broadcast.
	IdempotencyKey string
	StartedBy      string
}

// Broadcast starts (or, for a replayed idempotency key, finishes and
// reports) a broadcast. It returns when every account was considered;
// created is false for a replay.
func (e *Engine) Broadcast(ctx context.Context, r BroadcastRequest) (store.Broadcast, bool, error) {
	if _, err := e.launcherOf(); err != nil {
		return store.Broadcast{}, false, err
	}
	c, err := e.current(ctx)
	if err != nil {
		return store.Broadcast{}, false, err
	}
	if c == nil {
		return store.Broadcast{}, false, journey.ErrNoMap
	}
	if strings.TrimSpace(r.Moment) == "" {
		return store.Broadcast{}, false, &InputError{"moment", "moment is required: the id of the moment to broadcast"}
	}
	l := c.moments[r.Moment]
	if l == nil {
		return store.Broadcast{}, false, &InputError{"moment", fmt.Sprintf("moment %q is not in the live journey map", r.Moment)}
	}
	segment := strings.TrimSpace(r.Segment)
	if segment == "" {
		segment = l.moment.Trigger.Segment
	}
	if segment != "" {
		if _, err := rules.Compile(segment); err != nil {
			return store.Broadcast{}, false, &InputError{"segment", "the segment does not compile: " + err.Error()}
		}
	}
	id := uuid.NewString()
	key := strings.TrimSpace(r.IdempotencyKey)
	if key == "" {
		key = id
	}
	b, created, err := e.st.CreateBroadcast(ctx, store.Broadcast{ID: id, IdempotencyKey: key, MomentID: r.Moment,
		Segment: segment, MapVersion: c.version, StartedBy: r.StartedBy, Status: BroadcastRunning, CreatedAt: e.now()})
	if err != nil {
		return b, false, err
	}
	if !created && (b.MomentID != r.Moment || b.Segment != segment) {
		return b, false, ErrIdempotencyMismatch
	}
	if b.Status == BroadcastRunning {
		// The client going away must not stop the broadcast half way (a
		// tick would finish it, but later).
		if err := e.runBroadcast(context.WithoutCancel(ctx), b.ID); err != nil {
			return b, created, err
		}
	}
	b, err = e.st.BroadcastTx(ctx, e.st.Reader(), b.ID)
	return b, created, err
}

// BroadcastByID returns a broadcast.
func (e *Engine) BroadcastByID(ctx context.Context, id string) (store.Broadcast, error) {
	return e.st.BroadcastTx(ctx, nil, id)
}

// runBroadcast works through the accounts of a broadcast, a chunk per
// transaction, from its durable cursor. Several processes may run it at
// once: each chunk's runs and the cursor move commit together, and a chunk
// another process finished first is rolled back here.
func (e *Engine) runBroadcast(ctx context.Context, id string) error {
	var seg *rules.Program
	for {
		done, err := e.broadcastChunk(ctx, id, &seg)
		if err != nil || done {
			return err
		}
	}
}

func (e *Engine) broadcastChunk(ctx context.Context, id string, seg **rules.Program) (done bool, err error) {
	tx, err := e.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	b, err := e.st.LockBroadcastTx(ctx, tx, id)
	if err != nil {
		return false, err
	}
	if b.Status != BroadcastRunning {
		return true, nil
	}
	if *seg == nil && b.Segment != "" {
		if *seg, err = rules.Compile(b.Segment); err != nil {
			return false, fmt.Errorf("broadcast %s segment: %w", id, err)
		}
	}
	accounts, err := e.st.AccountsAfterTx(ctx, tx, b.Cursor, chunkSize)
	if err != nil {
		return false, err
	}
	now := e.now()
	withHealth := strings.Contains(b.Segment, "health")
	matched, reached := 0, 0
	for _, a := range accounts {
		vars := rules.Vars{Account: accountVars(a), Now: now}
		if withHealth {
			if vars.Health, err = e.healthVars(ctx, tx, a.ID, now); err != nil {
				return false, err
			}
		}
		if !e.eval(ctx, *seg, vars, b.MomentID) {
			continue
		}
		matched++
		runID, _, err := e.start(ctx, tx, playbook.RunRequest{AccountID: a.ID, MomentID: b.MomentID,
			Occurrence: "broadcast:" + b.ID, MapVersion: b.MapVersion, Trigger: journey.CategoryVendor, StartedBy: b.StartedBy})
		if err != nil {
			return false, err
		}
		if runID != "" {
			reached++
		}
	}
	to := b.Cursor
	if len(accounts) > 0 {
		to = accounts[len(accounts)-1].ID
	}
	done = len(accounts) < chunkSize
	ok, err := e.st.AdvanceBroadcastTx(ctx, tx, store.BroadcastChunk{ID: b.ID, From: b.Cursor, To: to, Matched: matched, Reached: reached, Done: done})
	if err != nil || !ok {
		// !ok: another process handled this chunk first; read again.
		return false, err
	}
	return done, tx.Commit()
}

// resumeBroadcasts finishes broadcasts whose request went away.
func (e *Engine) resumeBroadcasts(ctx context.Context, now time.Time) error {
	bs, err := e.st.UnfinishedBroadcasts(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if now.Sub(b.CreatedAt) < resumeAfter {
			continue
		}
		if err := e.runBroadcast(ctx, b.ID); err != nil {
			return err
		}
	}
	return nil
}
