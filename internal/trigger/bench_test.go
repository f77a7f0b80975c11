package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/fakeclock"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// benchPreload is how many events the database holds before measuring
// (MOMENTS_BENCH_PRELOAD, default 20,000 here; the ingestion benchmark of
// internal/web uses 200,000).
func benchPreload() int {
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_PRELOAD")); err == nil {
		return v
	}
	return 20_000
}

// map200 has 200 moments: 150 listening to 100 event names (with a
// condition), plus lifecycle, signal, scheduled, csm and vendor moments.
func map200() string {
	var b strings.Builder
	b.WriteString(mapHeader)
	for i := 0; i < 150; i++ {
		b.WriteString(moment(fmt.Sprintf("e%03d", i),
			fmt.Sprintf(`{category: customer_event, events: [Event %d], when: 'account.?plan.orValue("") != "free" && event.properties.?n.orValue(0) >= 0'}`, i%100)))
	}
	for i := 0; i < 20; i++ {
		b.WriteString(moment(fmt.Sprintf("l%03d", i), fmt.Sprintf(`{category: lifecycle, enter: stage%d}`, i)))
	}
	for i := 0; i < 10; i++ {
		b.WriteString(moment(fmt.Sprintf("s%03d", i), fmt.Sprintf(`{category: scheduled, schedule: {relative_to: renewal_date, offset: -%dd}}`, 10*(i+1))))
	}
	for _, sig := range []string{"low_nps", "sponsor_change", "quadrant_drop", "usage_drop"} {
		b.WriteString(moment("sig_"+sig, `{category: customer_event, signal: `+sig+`}`))
	}
	for i := 0; i < 16; i++ {
		b.WriteString(moment(fmt.Sprintf("c%03d", i), `{category: csm}`))
	}
	return b.String()
}

// mapNone has one csm moment: a map, but nothing listens to events.
var mapNone = mapHeader + moment("only_by_hand", `{category: csm}`)

// benchBody is 100 track calls of 1,000 accounts: 98 "Feature Used" (no
// moment listens) and 2 of the names the 200-moment map listens to.
func benchBody() []byte {
	var buf bytes.Buffer
	now := time.Now().UTC().Format(time.RFC3339Nano)
	buf.WriteString(`{"batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		u := rand.IntN(10_000)
		name := "Feature Used"
		if i%50 == 0 {
			name = fmt.Sprintf("Event %d", rand.IntN(100))
		}
		fmt.Fprintf(&buf, `{"type":"track","messageId":"%s","userId":"u%d","event":"%s","timestamp":"%s",`+
			`"properties":{"feature":"reports","n":%d},"context":{"groupId":"acct-%d"}}`,
			uuid.NewString(), u, name, now, rand.IntN(100), u%1000)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// BenchmarkIngestWithTriggers measures events/s through POST /v1/batch
// with 200 moments in the map against a map no event listens to; the ratio
// is what triggers cost. 16 concurrent senders, batches of 100.
func BenchmarkIngestWithTriggers(b *testing.B) {
	for _, d := range storetest.Dialects() {
		for _, tc := range []struct{ name, yaml string }{{"none", mapNone}, {"200_moments", map200()}} {
			b.Run(string(d)+"/"+tc.name, func(b *testing.B) {
				e := setup(b, d, tc.yaml)
				e.clock.Set(time.Now().UTC())
				var groups []map[string]any
				for i := 0; i < 1000; i++ {
					groups = append(groups, group(fmt.Sprintf("acct-%d", i), map[string]any{"plan": "pro", "lifecycle_stage": "adoption"}))
				}
				e.batch(b, groups...)
				for done := 0; done < benchPreload(); done += 100 {
					status, _ := e.do(b, "POST", "/v1/batch", benchBody(), nil)
					require.Equal(b, http.StatusOK, status)
				}
				require.NoError(b, e.app.WaitIdle(context.Background()))
				bodies := make([][]byte, 64)
				for i := range bodies {
					bodies[i] = benchBody()
				}
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				var next atomic.Int64
				b.SetParallelism(8)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						body := bytes.Clone(bodies[next.Add(1)%int64(len(bodies))])
						fresh := []byte(uuid.NewString()[:8])
						for j := 0; ; {
							k := bytes.Index(body[j:], []byte(`"messageId":"`))
							if k < 0 {
								break
							}
							j += k + len(`"messageId":"`)
							copy(body[j:], fresh)
						}
						req, _ := http.NewRequest("POST", e.url+"/v1/batch", bytes.NewReader(body))
						req.SetBasicAuth(e.writeKey, "")
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							b.Errorf("status %d", res.StatusCode)
							return
						}
					}
				})
				// events/s counts until the ingest stages (health, triggers,
				// wake-ups) have caught up; acked-events/s until the last
				// batch was acknowledged.
				acked := time.Since(start)
				require.NoError(b, e.app.WaitIdle(context.Background()))
				b.ReportMetric(float64(b.N*100)/acked.Seconds(), "acked-events/s")
				b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(e.app.Triggers.Stats().Fired), "runs")
			})
		}
	}
}

// BenchmarkTrackToTask measures the latency from /v1/track acknowledged to
// the moment's task visible in the store, with the playbook engine's
// workers running; it reports p50 and p99 in milliseconds. The idle
// variant sends nothing else; the loaded one sends other traffic meanwhile
// at MOMENTS_BENCH_BACKGROUND events/s (default 10,000: batches of 100
// track calls no moment listens to, from 1,000 accounts) and reports the
// rate the server actually sustained (acknowledged events over the time
// measured).
func BenchmarkTrackToTask(b *testing.B) {
	rate := 10_000
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_BACKGROUND")); err == nil {
		rate = v
	}
	for _, d := range storetest.Dialects() {
		for _, load := range []int{0, rate} {
			name := string(d) + "/idle"
			if load > 0 {
				name = fmt.Sprintf("%s/background-%d", d, load)
			}
			b.Run(name, func(b *testing.B) { trackToTask(b, d, load) })
		}
	}
}

// BenchmarkStageBacklog measures the ingest stages of the whole
// installation (health, triggers, playbook wake-ups, moment analytics;
// testMap applied) working off a backlog of MOMENTS_BENCH_STAGES events
// (default 40,000) of BenchmarkTrackToTask's background traffic (batches
// of 100 "Report Viewed" calls from 1,000 accounts), stored beforehand by
// a store without stages. It reports the events the stages consume per
// second and the process's CPU per event (and on PostgreSQL its backends'):
// nothing else runs meanwhile, so that is the stages' cost per event.
func BenchmarkStageBacklog(b *testing.B) {
	n := 40_000
	if v, err := strconv.Atoi(os.Getenv("MOMENTS_BENCH_STAGES")); err == nil && v > 0 {
		n = v
	}
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			var took, cpu, pgCPU time.Duration
			var events int64
			for range b.N {
				b.StopTimer()
				cfg := storetest.Config(b, d)
				loader, err := store.Open(ctx, cfg)
				require.NoError(b, err)
				now := time.Now().UTC()
				for i := 0; i < n/100; i++ {
					msgs := make([]store.Message, 100)
					for j := range msgs {
						acct := "bg-" + strconv.Itoa((i*100+j)%1000)
						msgs[j] = store.Message{Type: "track", MessageID: fmt.Sprintf("bg-%d-%d", i, j), UserID: "u-" + acct, GroupID: acct,
							Name: "Report Viewed", Properties: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`), Timestamp: now, ReceivedAt: now}
					}
					_, err := loader.Ingest(ctx, "wk", msgs)
					require.NoError(b, err)
				}
				require.NoError(b, loader.Close())
				st, err := store.Open(ctx, cfg)
				require.NoError(b, err)
				b.Cleanup(func() { st.Close() })
				e := setupOn(b, st, testMap, fakeclock.New(now), true)
				lag, err := st.IngestLag(ctx)
				require.NoError(b, err)
				events += lag.Events
				b.StartTimer()
				began, cpu0, pgMeter := time.Now(), storetest.CPUTime(), storetest.MeterPGBackends()
				require.NoError(b, e.app.WaitIdle(ctx))
				took += time.Since(began)
				cpu += storetest.CPUTime() - cpu0
				if pgMeter != nil {
					pgCPU += pgMeter.Stop()
				}
			}
			b.ReportMetric(float64(events)/took.Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(events), "cpu-µs/event")
			if d == store.Postgres {
				// The database's backends on this machine: the other
				// half of what an event's stages cost on PostgreSQL.
				b.ReportMetric(float64(pgCPU.Microseconds())/float64(events), "pg-cpu-µs/event")
			}
			b.ReportMetric(float64(events)/float64(b.N), "events")
		})
	}
}

// background sends rate events/s of traffic no moment listens to until ctx
// ends, and returns how many the server acknowledged. A pacer offers a
// batch every 100/rate seconds to whichever of its senders is free, so a
// slow acknowledgement does not slow the offered rate as long as a sender
// is free; a batch offered while all are busy is not sent (the server did
// not sustain the rate). The bodies are written by hand, not by
// encoding/json: the senders share the server's cores.
func background(ctx context.Context, e *env, rate int) *atomic.Int64 {
	var acked atomic.Int64
	if rate <= 0 {
		return &acked
	}
	const senders = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	offers := make(chan int)
	for w := range senders {
		go func() {
			var body bytes.Buffer
			for {
				var i int
				select {
				case <-ctx.Done():
					return
				case i = <-offers:
				}
				body.Reset()
				body.WriteString(`{"batch":[`)
				for j := range 100 {
					if j > 0 {
						body.WriteByte(',')
					}
					acct := "bg-" + strconv.Itoa((i*100+j)%1000)
					fmt.Fprintf(&body, `{"type":"track","messageId":"bg-%d-%d-%d","userId":"u-%s","event":"Report Viewed",`+
						`"properties":{"i":%d},"context":{"groupId":"%s"}}`, w, i, j, acct, i, acct)
				}
				body.WriteString(`]}`)
				req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/v1/batch", bytes.NewReader(body.Bytes()))
				req.SetBasicAuth(e.writeKey, "")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					acked.Add(100)
				}
			}
		}()
	}
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) * 100 / float64(rate)))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case offers <- i:
			default: // every sender is waiting for an acknowledgement
			}
		}
	}()
	return &acked
}

func trackToTask(b *testing.B, d store.Dialect, load int) {
	e := setup(b, d, testMap)
	e.clock.Set(time.Now().UTC())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(b, e.pb.Start(ctx))
	b.Cleanup(func() { _ = e.pb.Stop(context.Background()) })
	began, cpu := time.Now(), storetest.CPUTime()
	bg := background(ctx, e, load)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		acct := fmt.Sprintf("lat-%d-%d", i, rand.IntN(1_000_000))
		body, _ := json.Marshal(track("u-"+acct, acct, "Ticket Escalated", map[string]any{"i": i}))
		req, _ := http.NewRequest("POST", e.url+"/v1/track", bytes.NewReader(body))
		req.SetBasicAuth(e.writeKey, "")
		res, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		res.Body.Close()
		require.Equal(b, http.StatusOK, res.StatusCode)
		acked := time.Now()
		for {
			tasks, _, err := e.st.ListTasks(ctx, store.TaskFilter{AccountID: acct}, time.Now(), store.Page{Limit: 1})
			require.NoError(b, err)
			if len(tasks) > 0 {
				break
			}
			if time.Since(acked) > 10*time.Second {
				lag, _ := e.st.IngestLag(ctx)
				b.Fatalf("no task for %s after 10 s: the stages are %d events (%.1f s) behind, %.0f background events/s acknowledged",
					acct, lag.Events, lag.Seconds, float64(bg.Load())/time.Since(began).Seconds())
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(acked))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if load > 0 {
		acked := bg.Load()
		b.ReportMetric(float64(acked)/time.Since(began).Seconds(), "background-events/s")
		// The process's CPU (server, stages, senders) per event
		// acknowledged, and how far the stages were behind at the end:
		// a rate is sustained only if they keep up with it.
		b.ReportMetric(float64((storetest.CPUTime()-cpu).Microseconds())/float64(max(acked, 1)), "cpu-µs/event")
		lag, err := e.st.IngestLag(ctx)
		require.NoError(b, err)
		b.ReportMetric(float64(lag.Events), "stages-behind")
	}
}
