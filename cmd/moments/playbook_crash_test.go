package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// The crash test's journey map: a customer_event moment whose playbook
// creates a task, calls a (slow) webhook, creates a task, emails the
// sponsor, waits for an event and creates a last task.
const crashMap = `version: 1
name: Crash test
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
      - {kind: webhook, url: "HOOK_URL", format: json}
      - {kind: task, title: Send the kickoff notes, due: 3d}
      - {kind: email, template: welcome, to: sponsor}
      - {kind: wait, until: Kickoff Held, timeout: 7d}
      - {kind: task, title: Check in after the kickoff, due: 5d}
emails:
  - id: welcome
    subject: Welcome to {{.Account.name}}
    body: Hi {{default "there" .Contact.first_name}}, welcome.
`

const (
	crashAccounts = 50
	crashSecret   = "whsec_crash"
	// crashLease is the step lease of the servers under test: how long a
	// step left by the killed server waits before it runs again.
	crashLease = 2 * time.Second
)

// crashMail is a real SMTP server (emersion/go-smtp) that records every
// message it accepts and when. Holding mu stops new messages from being
// accepted, so the test can kill the server between two of them.
type crashMail struct {
	mu   sync.Mutex
	msgs []crashMsg
	port int
}

type crashMsg struct {
	messageID, to string
	at            time.Time
}

func (m *crashMail) NewSession(*smtp.Conn) (smtp.Session, error) { return &crashMailSession{m: m}, nil }

type crashMailSession struct {
	m  *crashMail
	to []string
}

func (s *crashMailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *crashMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *crashMailSession) Reset()        { s.to = nil }
func (s *crashMailSession) Logout() error { return nil }

func (s *crashMailSession) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, msg.Body)
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.msgs = append(s.m.msgs, crashMsg{messageID: msg.Header.Get("Message-Id"), to: strings.Join(s.to, ","), at: time.Now()})
	return nil
}

func startCrashMail(t *testing.T) *crashMail {
	t.Helper()
	m := &crashMail{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.port = l.Addr().(*net.TCPAddr).Port
	return m
}

// crashHook is a webhook receiver that verifies signatures and takes
// hookDelay to answer, so webhooks are in flight when the server is killed.
type crashHook struct {
	*httptest.Server
	mu       sync.Mutex
	arrivals []hookArrival
	inFlight map[string]int
	badSigs  int
}

type hookArrival struct {
	key string
	at  time.Time
	// answered is set once the receiver answered 200.
	answered bool
}

const hookDelay = 400 * time.Millisecond

var adminKeyRE = regexp.MustCompile(`admin key \(REST API.*?\):\s+(\S+)`)

func startCrashHook(t *testing.T) *crashHook {
	t.Helper()
	h := &crashHook{inFlight: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(crashSecret), r.Header.Get(notify.SignatureHeader), body, time.Minute, time.Now()); err != nil {
			h.mu.Lock()
			h.badSigs++
			h.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := r.Header.Get(notify.IdempotencyKeyHeader)
		h.mu.Lock()
		i := len(h.arrivals)
		h.arrivals = append(h.arrivals, hookArrival{key: key, at: time.Now()})
		h.inFlight[key]++
		h.mu.Unlock()
		answered := false
		select {
		case <-time.After(hookDelay):
			answered = true
		case <-r.Context().Done(): // the sender died
		}
		h.mu.Lock()
		h.inFlight[key]--
		h.arrivals[i].answered = answered
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// startPlaybookServer runs `moments serve` on the database that db (the
// --data or --db flag) names, with env added to its environment; on first
// start it also returns the keys it prints.
func startPlaybookServer(t testing.TB, bin string, db, env []string, first bool) (cmd *exec.Cmd, url, admin, write string) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, db...)...)
	cmd.Env = append(os.Environ(), env...)
	logs, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	require.NoError(t, err)
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for url == "" || (first && (admin == "" || write == "")) {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "server exited before it was ready")
			if m := listenRE.FindStringSubmatch(l); m != nil {
				url = m[1]
			}
			if m := writeKeyRE.FindStringSubmatch(l); m != nil {
				write = m[1]
			}
			if m := adminKeyRE.FindStringSubmatch(l); m != nil {
				admin = m[1]
			}
		case <-deadline:
			t.Fatal("server did not start within 30 s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return cmd, url, admin, write
}

// TestPlaybooksFinishAfterKill9 starts 50 runs of a six-step playbook
// (task, webhook, task, email, wait for an event, task), kills the server
// with SIGKILL while webhooks are in flight, restarts it on the same
// database (SQLite, and PostgreSQL when MOMENTS_TEST_POSTGRES_URL is set)
// and checks that every run finishes within a bounded time:
//
//   - tasks: exactly the three of each run, none lost, none duplicated;
//   - email: one per run, with a stable Message-ID; a second copy, with the
//     same Message-ID, only for a message the mail server accepted in the
//     moment before the kill (before Moments could record it);
//   - webhooks: at least once, every attempt of a run with the same
//     Idempotency-Key, and every webhook in flight at the kill sent again.
func TestPlaybooksFinishAfterKill9(t *testing.T) {
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
			db := []string{"--data", t.TempDir()}
			if cfg.DB != "" {
				db = append(db, "--db", cfg.DB)
			}
			killAndRestart(t, bin, db)
		})
	}
}

func killAndRestart(t *testing.T, bin string, db []string) {
	mail, hook := startCrashMail(t), startCrashHook(t)
	env := []string{
		"MOMENTS_SMTP_HOST=127.0.0.1", "MOMENTS_SMTP_PORT=" + strconv.Itoa(mail.port), "MOMENTS_SMTP_TLS=none",
		"MOMENTS_SMTP_FROM=Vendor CS <cs@vendor.example>", "MOMENTS_WEBHOOK_SECRET=" + crashSecret,
		"MOMENTS_PLAYBOOK_STEP_LEASE=" + crashLease.String(),
		// The webhook receiver listens on this machine.
		"MOMENTS_WEBHOOK_ALLOW=127.0.0.1/32",
	}
	cmd, url, admin, _ := startPlaybookServer(t, bin, db, env, true)
	// Contacts' emails are set only with a server write key.
	out, err := exec.Command(bin, append([]string{"keys", "create", "--scope", "write", "--server"}, db...)...).Output()
	require.NoError(t, err)
	write := strings.TrimSpace(string(out))
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(url, method, path, auth string, body []byte, ctype string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		require.NoError(t, err)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth == write {
			req.SetBasicAuth(write, "")
		} else {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, body := call(url, "PUT", "/api/v1/journey", admin, []byte(strings.ReplaceAll(crashMap, "HOOK_URL", hook.URL+"/hook")), "application/yaml")
	require.Equal(t, http.StatusOK, code, "%s", body)

	batch := func(url string, msgs []string) {
		t.Helper()
		code, body := call(url, "POST", "/v1/batch", write, []byte(`{"batch":[`+strings.Join(msgs, ",")+`]}`), "application/json")
		require.Equal(t, http.StatusOK, code, "%s", body)
	}
	var people, kickoffs []string
	for i := range crashAccounts {
		acct, user := fmt.Sprintf("acct-%02d", i), fmt.Sprintf("sponsor-%02d", i)
		people = append(people,
			fmt.Sprintf(`{"type":"group","userId":%q,"groupId":%q,"traits":{"name":"Account %02d"},"messageId":"g-%s"}`, user, acct, i, acct),
			fmt.Sprintf(`{"type":"identify","userId":%q,"traits":{"email":"%s@customer.example","role":"sponsor","first_name":"Zoë"},"context":{"groupId":%q},"messageId":"i-%s"}`, user, user, acct, acct))
		kickoffs = append(kickoffs,
			fmt.Sprintf(`{"type":"track","userId":%q,"event":"Kickoff Scheduled","context":{"groupId":%q},"messageId":"k-%s"}`, user, acct, acct))
	}
	batch(url, people)
	batch(url, kickoffs)

	// Kill the server while webhooks are in flight, and between two
	// emails: holding the mail server's lock keeps it from accepting one
	// during the kill.
	deadline := time.Now().Add(20 * time.Second)
	for {
		hook.mu.Lock()
		n, flying := len(hook.arrivals), 0
		for _, c := range hook.inFlight {
			flying += c
		}
		hook.mu.Unlock()
		if n >= 12 && flying >= 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the webhooks never got going (%d arrived)", n)
		time.Sleep(5 * time.Millisecond)
	}
	// Holding the receiver's lock, no webhook in flight can be answered
	// before the kill: those in flight now are unanswered for good.
	mail.mu.Lock()
	hook.mu.Lock()
	var inFlightAtKill []string
	for key, c := range hook.inFlight {
		if c > 0 {
			inFlightAtKill = append(inFlightAtKill, key)
		}
	}
	arrivedBeforeKill := len(hook.arrivals)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killedAt := time.Now()
	hook.mu.Unlock()
	mail.mu.Unlock()
	require.NotEmpty(t, inFlightAtKill)

	_, url, _, _ = startPlaybookServer(t, bin, db, env, false)
	restartedAt := time.Now()
	type runJSON struct {
		ID        string `json:"id"`
		AccountID string `json:"account_id"`
		Status    string `json:"status"`
		Error     string `json:"error"`
		Steps     []struct {
			Key      string `json:"step"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		} `json:"steps"`
	}
	listRuns := func() []runJSON {
		t.Helper()
		code, body := call(url, "GET", "/api/v1/runs?moment=kickoff&limit=500", admin, nil, "")
		require.Equal(t, http.StatusOK, code, "%s", body)
		var page struct {
			Runs []runJSON `json:"runs"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		return page.Runs
	}
	// Wake each run's wait once it waits: "Kickoff Held" counts only once
	// the run has reached the wait.
	held := map[string]bool{}
	var runs []runJSON
	deadline = time.Now().Add(30 * time.Second)
	for {
		runs = listRuns()
		done := 0
		var wake []string
		for _, r := range runs {
			switch r.Status {
			case "done":
				done++
			case "waiting":
				if !held[r.AccountID] {
					held[r.AccountID] = true
					wake = append(wake, fmt.Sprintf(`{"type":"track","userId":"sponsor-%s","event":"Kickoff Held","context":{"groupId":%q},"messageId":"h-%s"}`,
						strings.TrimPrefix(r.AccountID, "acct-"), r.AccountID, r.AccountID))
				}
			case "failed":
				t.Fatalf("run %s failed: %s", r.ID, r.Error)
			}
		}
		if len(wake) > 0 {
			batch(url, wake)
		}
		if done == crashAccounts && len(runs) == crashAccounts {
			break
		}
		require.True(t, time.Now().Before(deadline), "after the restart, %d of %d runs finished within 30 s", done, len(runs))
		time.Sleep(50 * time.Millisecond)
	}
	finishedAt := time.Now()
	require.Len(t, runs, crashAccounts, "one run per account, none started twice")

	// Every run: all six steps done, exactly its three tasks.
	taskTitles := []string{"Check in after the kickoff", "Hold the kickoff call", "Send the kickoff notes"}
	accounts := map[string]bool{}
	recovered := 0
	for _, r := range runs {
		accounts[r.AccountID] = true
		code, body := call(url, "GET", "/api/v1/runs/"+r.ID, admin, nil, "")
		require.Equal(t, http.StatusOK, code, "%s", body)
		var detail struct {
			Run   runJSON `json:"run"`
			Tasks []struct {
				RunID string `json:"run_id"`
				Title string `json:"title"`
			} `json:"tasks"`
		}
		require.NoError(t, json.Unmarshal(body, &detail))
		require.Len(t, detail.Run.Steps, 6, "run %s", r.ID)
		for _, s := range detail.Run.Steps {
			require.Equal(t, "done", s.Status, "run %s step %s", r.ID, s.Key)
			// A wait is claimed twice (it waits, then wakes); any
			// other step more than once only when it was cut short.
			if s.Attempts > 1 && s.Key != "5" {
				recovered++
			}
		}
		var titles []string
		for _, tk := range detail.Tasks {
			titles = append(titles, tk.Title)
		}
		sort.Strings(titles)
		require.Equal(t, taskTitles, titles, "run %s: no task lost or duplicated", r.ID)
	}
	require.Len(t, accounts, crashAccounts)
	code, body = call(url, "GET", "/api/v1/tasks?limit=500", admin, nil, "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	var all struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(body, &all))
	require.Len(t, all.Tasks, 3*crashAccounts, "no stray task anywhere")

	// Email: one per run, its Message-ID naming the run; a second copy,
	// identical, only for a message accepted just before the kill.
	mail.mu.Lock()
	byRun := map[string][]crashMsg{}
	for _, m := range mail.msgs {
		i := strings.Index(m.messageID, "<run-")
		require.GreaterOrEqual(t, i, 0, "Message-ID %q names the run", m.messageID)
		id := strings.SplitN(m.messageID[i+len("<run-"):], ".step-", 2)[0]
		byRun[id] = append(byRun[id], m)
	}
	mail.mu.Unlock()
	repeated := 0
	for _, r := range runs {
		msgs := byRun[r.ID]
		require.NotEmpty(t, msgs, "run %s sent its email", r.ID)
		require.Contains(t, msgs[0].messageID, "<run-"+r.ID+".step-4.")
		require.Contains(t, msgs[0].to, fmt.Sprintf("sponsor-%s@customer.example", strings.TrimPrefix(r.AccountID, "acct-")))
		for _, m := range msgs[1:] {
			require.Equal(t, msgs[0].messageID, m.messageID, "a repeated email keeps its Message-ID")
		}
		if len(msgs) > 1 {
			repeated++
			require.Len(t, msgs, 2)
			require.WithinDuration(t, killedAt, msgs[0].at, time.Second,
				"run %s: only an email accepted in the moment before the kill may be sent again", r.ID)
		}
	}
	require.Len(t, byRun, crashAccounts, "no email for anything but the runs")

	// Webhooks: at least once, one key per run, every one in flight at the
	// kill sent again after the restart.
	hook.mu.Lock()
	defer hook.mu.Unlock()
	require.Zero(t, hook.badSigs)
	keys := map[string][]hookArrival{}
	for _, a := range hook.arrivals {
		keys[a.key] = append(keys[a.key], a)
	}
	var firstRedelivery time.Time
	for _, r := range runs {
		as := keys["run-"+r.ID+"-step-2"]
		require.NotEmpty(t, as, "run %s called its webhook", r.ID)
		require.True(t, as[len(as)-1].answered, "run %s: the last attempt was answered", r.ID)
	}
	require.Len(t, keys, crashAccounts, "one Idempotency-Key per run")
	for _, key := range inFlightAtKill {
		var again []hookArrival
		for _, a := range hook.arrivals[arrivedBeforeKill:] {
			if a.key == key {
				again = append(again, a)
			}
		}
		require.NotEmpty(t, again, "webhook %s, in flight at the kill, is sent again", key)
		if at := again[0].at; firstRedelivery.IsZero() || at.Before(firstRedelivery) {
			firstRedelivery = at
		}
	}
	t.Logf("SIGKILL with %d webhooks arrived and %d in flight; restart took %s",
		arrivedBeforeKill, len(inFlightAtKill), restartedAt.Sub(killedAt).Round(time.Millisecond))
	t.Logf("first in-flight webhook sent again %s after the kill (step lease %s); all %d runs done %s after the kill",
		firstRedelivery.Sub(killedAt).Round(time.Millisecond), crashLease, crashAccounts, finishedAt.Sub(killedAt).Round(time.Millisecond))
	t.Logf("%d webhook deliveries for %d runs; %d emails repeated across the kill; %d steps ran again after the kill",
		len(hook.arrivals), crashAccounts, repeated, recovered)
}
