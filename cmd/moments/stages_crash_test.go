package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// stagesMap starts one run per "Kickoff Scheduled" event and scores health
// on every track call.
const stagesMap = `version: 1
name: Stages crash test
stages: [{id: delivering, name: Delivering}]
teams: [{id: customer_success, name: Customer Success, lead: lead@vendor.example}]
moments:
  - id: kickoff
    name: Kickoff
    stage: delivering
    owner: customer_success
    trigger: {category: customer_event, events: [Kickoff Scheduled]}
    playbook:
      - {kind: task, title: Hold the kickoff call, due: 2d}
health:
  behavioural:
    weights: {recency: 25, frequency: 25, breadth: 25, depth: 25}
    window_days: 30
    key_features: [Report Created]
`

// TestIngestStagesExactlyOnceAfterKill9 kills the server with SIGKILL while
// clients ingest and the ingest stages (health, triggers) are behind the
// acknowledged events, restarts it, and checks that once the stages have
// caught up every acknowledged event had its effects exactly once: one run
// per "Kickoff Scheduled" event (none lost, none twice), and each account's
// incrementally kept activity counts equal those a full recompute derives
// from the stored events (an event applied twice, or skipped, would show).
func TestIngestStagesExactlyOnceAfterKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin, err := buildBinary()
	require.NoError(t, err)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			cfg := storetest.Config(t, d)
			cfg.Data = t.TempDir()
			db := []string{"--data", cfg.Data}
			if cfg.DB != "" {
				db = append(db, "--db", cfg.DB)
			}
			killWhileStagesBehind(t, bin, func(int) []string { return db }, cfg, 1)
		})
	}
}

// TestThreeServersOneKilled runs three servers on one PostgreSQL database,
// sends to all three, kills one with SIGKILL while the ingest stages are
// behind and the others keep receiving, and checks that the survivors take
// over the derived work: every acknowledged kickoff starts exactly one run,
// and the health kept event by event matches a recompute.
func TestThreeServersOneKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	cfg := storetest.Config(t, store.Postgres)
	if cfg.DB == "" {
		t.Skip("needs PostgreSQL: set MOMENTS_TEST_POSTGRES_URL")
	}
	bin, err := buildBinary()
	require.NoError(t, err)
	cfg.Data = t.TempDir()
	dirs := []string{cfg.Data, t.TempDir(), t.TempDir()}
	killWhileStagesBehind(t, bin, func(i int) []string { return []string{"--data", dirs[i], "--db", cfg.DB} }, cfg, len(dirs))
}

// killWhileStagesBehind starts servers (each with the database flags
// db(i)), sends to all of them, and kills the first with SIGKILL once the
// ingest stages are behind the acknowledged events. With one server it is
// started again; with more, the others go on receiving and must take over
// the stages' work. Then every acknowledged event must have had its
// effects exactly once.
func killWhileStagesBehind(t *testing.T, bin string, db func(i int) []string, cfg store.Config, servers int) {
	cmds, urls := make([]*exec.Cmd, servers), make([]string, servers)
	var admin, write string
	cmds[0], urls[0], admin, write = startPlaybookServer(t, bin, db(0), nil, true)
	for i := 1; i < servers; i++ {
		cmds[i], urls[i], _, _ = startPlaybookServer(t, bin, db(i), nil, false)
	}
	cmd, url := cmds[0], urls[0]
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(url, method, path string, body []byte, ctype string, key string, basic bool) (int, []byte, error) {
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if basic {
			req.SetBasicAuth(key, "")
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	code, body, err := call(url, "PUT", "/api/v1/journey", []byte(stagesMap), "application/yaml", admin, false)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s", body)

	var (
		mu       sync.Mutex
		kickoffs []string // message ids of acknowledged "Kickoff Scheduled" events
		acked    int
		sendCap  = 20000 // senders pause at this many acknowledged events until the kill
		killed   bool
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A bounded backlog: on a loaded machine the kill waits
				// (up to 20 s) for every server to consume its share, and
				// unbounded senders would queue more than the stages can
				// work off within the minute allowed below.
				mu.Lock()
				paused := acked >= sendCap && !killed
				mu.Unlock()
				if paused {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				var msgs, kicks []string
				for j := 0; j < 50; j++ {
					acct, user := fmt.Sprintf("acct-%d", (w*7+j)%40), fmt.Sprintf("user-%d-%d", w, j%5)
					id := fmt.Sprintf("w%d-b%d-m%d", w, i, j)
					name := "Report Created"
					if j%10 == 0 {
						name = "Kickoff Scheduled"
						kicks = append(kicks, id)
					}
					msgs = append(msgs, fmt.Sprintf(`{"type":"track","userId":%q,"event":%q,"context":{"groupId":%q},"messageId":%q}`,
						user, name, acct, id))
				}
				code, _, err := call(urls[w%servers], "POST", "/v1/batch", []byte(`{"batch":[`+strings.Join(msgs, ",")+`]}`), "application/json", write, true)
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusOK {
					mu.Lock()
					kickoffs = append(kickoffs, kicks...)
					acked += len(msgs)
					mu.Unlock()
				}
			}
		}()
	}
	type stagesHz struct {
		Events   int64 `json:"events_behind"`
		Shards   int   `json:"shards_held"`
		Consumed int64 `json:"consumed_here"`
	}
	healthz := func(url string) (stagesHz, error) {
		code, body, err := call(url, "GET", "/healthz", nil, "", "", false)
		if err != nil {
			return stagesHz{}, err
		}
		if code != http.StatusOK {
			return stagesHz{}, fmt.Errorf("/healthz: %d %s", code, body)
		}
		var hz struct {
			Stages stagesHz `json:"ingest_stages"`
		}
		err = json.Unmarshal(body, &hz)
		return hz.Stages, err
	}
	// Kill once /healthz shows the stages behind the acknowledged events
	// (and, with several servers, every server consuming its share).
	deadline := time.Now().Add(20 * time.Second)
	before := make([]stagesHz, servers)
	for {
		shared := true
		for i := range urls {
			hz, err := healthz(urls[i])
			require.NoError(t, err)
			before[i] = hz
			shared = shared && (servers == 1 || hz.Consumed > 0)
		}
		mu.Lock()
		n := acked
		mu.Unlock()
		if before[0].Events > 0 && n >= 2000 && shared {
			break
		}
		if before[0].Events == 0 && n >= sendCap {
			mu.Lock()
			sendCap += 5000 // caught up before every server had its share: send more
			mu.Unlock()
		}
		require.True(t, time.Now().Before(deadline), "the ingest stages were never behind with every server consuming (%d events acknowledged; %+v)", n, before)
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	mu.Lock()
	killed = true
	mu.Unlock()
	t.Logf("before the kill, per server (events behind, shards held, events consumed): %+v", before)
	if servers > 1 {
		time.Sleep(500 * time.Millisecond) // the survivors keep receiving
	}
	close(stop)
	wg.Wait()
	_ = cmd.Wait()

	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	require.NoError(t, err)
	var progress, newest int64
	require.NoError(t, st.DB().QueryRow("SELECT MIN(last_event_id) FROM ingest_progress WHERE name = 'stages' OR name LIKE 'stages/%'").Scan(&progress))
	require.NoError(t, st.DB().QueryRow("SELECT COALESCE(MAX(id), 0) FROM events").Scan(&newest))
	require.NoError(t, st.Close())
	t.Logf("killed with %d acknowledged events; the stages had consumed up to event %d of %d", acked, progress, newest)

	// With one server, restart it; with more, the survivors work off the
	// backlog, the dead server's part of it included.
	if servers == 1 {
		cmds[0], urls[0], _, _ = startPlaybookServer(t, bin, db(0), nil, false)
	} else {
		cmds, urls = cmds[1:], urls[1:]
	}
	url = urls[0]
	deadline = time.Now().Add(60 * time.Second)
	for {
		_, body, err := call(url, "GET", "/healthz", nil, "", "", false)
		require.NoError(t, err)
		if strings.Contains(string(body), `"events_behind":0`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the ingest stages did not catch up within 60 s: %s", body)
		time.Sleep(20 * time.Millisecond)
	}
	if servers > 1 {
		// The survivors hold every shard between them, the dead server's
		// included, and consumed more since the kill.
		held := 0
		for i, u := range urls {
			hz, err := healthz(u)
			require.NoError(t, err)
			t.Logf("survivor %d after catching up: %d shards, %d events consumed (%d before the kill)", i+1, hz.Shards, hz.Consumed, before[i+1].Consumed)
			require.Greater(t, hz.Consumed, before[i+1].Consumed, "survivor %d took no part after the kill", i+1)
			held += hz.Shards
		}
		require.Equal(t, 16, held, "the survivors hold every shard")
	}
	for _, c := range cmds {
		require.NoError(t, c.Process.Signal(syscall.SIGKILL))
		_ = c.Wait()
	}

	st, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	defer st.Close()
	runs := map[string]int{}
	rows, err := st.DB().Query("SELECT occurrence FROM runs WHERE moment_id = 'kickoff'")
	require.NoError(t, err)
	for rows.Next() {
		var occ string
		require.NoError(t, rows.Scan(&occ))
		runs[occ]++
	}
	require.NoError(t, rows.Err())
	byMessage := map[string]string{}
	rows, err = st.DB().Query("SELECT id, message_id FROM events WHERE name = 'Kickoff Scheduled'")
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var msg string
		require.NoError(t, rows.Scan(&id, &msg))
		byMessage[msg] = fmt.Sprintf("evt:%d", id)
	}
	require.NoError(t, rows.Err())
	lost := 0
	for _, m := range kickoffs {
		if runs[byMessage[m]] != 1 {
			lost++
		}
	}
	require.Zero(t, lost, "of %d acknowledged kickoffs, %d did not start exactly one run", len(kickoffs), lost)
	require.Len(t, runs, len(byMessage), "one run per stored kickoff")

	accounts := make([]string, 40)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-%d", i)
	}
	days := func() map[string][]health.DayCount {
		recs, err := st.HealthRecordsTx(ctx, st.Reader(), accounts)
		require.NoError(t, err)
		out := map[string][]health.DayCount{}
		for id, r := range recs {
			if !r.Exists {
				continue
			}
			var agg health.Aggregate
			require.NoError(t, agg.UnmarshalJSON(r.Aggregate), id)
			out[id] = agg.Days
		}
		return out
	}
	incremental := days()
	require.NotEmpty(t, incremental)
	a, err := app.New(ctx, st, app.Options{})
	require.NoError(t, err)
	_, err = a.Health.Recompute(ctx)
	require.NoError(t, err)
	require.Equal(t, days(), incremental, "health kept event by event matches a recompute from the stored events")
	t.Logf("%d kickoffs acknowledged, %d runs; health of %d accounts matches a recompute", len(kickoffs), len(runs), len(incremental))
}
