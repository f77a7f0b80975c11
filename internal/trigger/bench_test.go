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
// rate the server actually sustained.
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

// background sends rate events/s of traffic no moment listens to until ctx
// ends, and returns how many the server acknowledged.
func background(ctx context.Context, e *env, rate int) *atomic.Int64 {
	var acked atomic.Int64
	if rate <= 0 {
		return &acked
	}
	const senders = 4
	every := time.Duration(float64(time.Second) * 100 * senders / float64(rate))
	for w := range senders {
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				msgs := make([]map[string]any, 100)
				for j := range msgs {
					acct := fmt.Sprintf("bg-%d", (w*100+j+i)%1000)
					msgs[j] = track("u-"+acct, acct, "Report Viewed", map[string]any{"i": i})
				}
				body, _ := json.Marshal(map[string]any{"batch": msgs})
				req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth(e.writeKey, "")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					acked.Add(100)
				}
			}
		}()
	}
	return &acked
}

func trackToTask(b *testing.B, d store.Dialect, load int) {
	e := setup(b, d, testMap)
	e.clock.Set(time.Now().UTC())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(b, e.pb.Start(ctx))
	b.Cleanup(func() { _ = e.pb.Stop(context.Background()) })
	began := time.Now()
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
				b.Fatalf("no task for %s after 10 s", acct)
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
		b.ReportMetric(float64(bg.Load())/time.Since(began).Seconds(), "background-events/s")
	}
}
