package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
)

// buildBinary builds the moments command once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "moments-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "moments")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

var (
	listenRE   = regexp.MustCompile(`listening on (http://\S+)`)
	writeKeyRE = regexp.MustCompile(`write key \(tracking API.*?:\s+(mkw_\S+)`)
)

// startServer runs `moments serve` as a child process on a free port and
// returns its URL and, on first start, its write key.
func startServer(t *testing.T, bin, data string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = nil
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var url, key string
	deadline := time.After(30 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for url == "" || key == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "server exited before it was ready")
			if m := listenRE.FindStringSubmatch(l); m != nil {
				url = m[1]
			}
			if m := writeKeyRE.FindStringSubmatch(l); m != nil {
				key = m[1]
			}
		case <-deadline:
			t.Fatal("server did not start within 30 s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return cmd, url, key
}

// TestAcknowledgedEventsSurviveKill9 kills a server with SIGKILL while
// clients ingest; every message that got a 200 must be stored afterwards.
func TestAcknowledgedEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin, err := buildBinary()
	require.NoError(t, err)
	data := t.TempDir()
	cmd, url, key := startServer(t, bin, data)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ids := make([]string, 50)
				var body bytes.Buffer
				body.WriteString(`{"batch":[`)
				for j := range ids {
					ids[j] = fmt.Sprintf("w%d-b%d-m%d", w, i, j)
					if j > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"type":"track","userId":"u%d","event":"Login","messageId":%q}`, j, ids[j])
				}
				body.WriteString(`]}`)
				req, _ := http.NewRequest("POST", url+"/v1/batch", &body)
				req.SetBasicAuth(key, "")
				res, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	close(stop)
	wg.Wait()
	_ = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, acked, "some batches were acknowledged before the kill")

	st, err := store.Open(context.Background(), store.Config{Data: data})
	require.NoError(t, err)
	defer st.Close()
	rows, err := st.DB().Query("SELECT message_id FROM events")
	require.NoError(t, err)
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rows.Err())
	missing := 0
	for _, id := range acked {
		if !stored[id] {
			missing++
		}
	}
	require.Zero(t, missing, "of %d acknowledged messages, %d were lost", len(acked), missing)
	t.Logf("%d messages acknowledged before SIGKILL, all stored (%d stored in all)", len(acked), len(stored))
}
