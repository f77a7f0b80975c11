package tracking_test

import (
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/store/storetest"
)

// pgBackendsCPU reads the CPU time used so far by each PostgreSQL backend
// serving the test database (storetest.EnvPostgres), by pid, from
// /proc: it works when the server runs on this machine, and gives nil
// otherwise. The benchmark database should be one no one else uses.
func pgBackendsCPU() map[string]time.Duration { return pgBackendsCPUIn(map[string]bool{}) }

// pgBackendsCPUIn is pgBackendsCPU remembering in other the processes
// are not backends of the database, so that sampling often stays cheap.
func pgBackendsCPUIn(other map[string]bool) map[string]time.Duration {
	u, err := url.Parse(os.Getenv(storetest.EnvPostgres))
	if err != nil || u.Path == "" {
		return nil
	}
	db := " " + strings.TrimPrefix(u.Path, "/") + " "
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	out := map[string]time.Duration{}
	for _, p := range procs {
		if other[p] {
			continue
		}
		cmd, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(cmd), "postgres: ") || !strings.Contains(string(cmd), db) {
			other[p] = true
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[filepath.Base(filepath.Dir(p))] = time.Duration(ut+st) * 10 * time.Millisecond // clock ticks of 1/100 s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pgCPUMeter samples the backends' CPU every 200 ms until stop, so that
// backends that end during the measurement (a pool closing idle
// connections) are counted up to their last sample.
type pgCPUMeter struct {
	first, last map[string]time.Duration
	quit, done  chan struct{}
}

// meterPGBackends starts a meter, nil when the backends cannot be read.
func meterPGBackends() *pgCPUMeter {
	first := pgBackendsCPU()
	if first == nil {
		return nil
	}
	m := &pgCPUMeter{first: first, last: maps.Clone(first), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		other := map[string]bool{}
		for {
			maps.Copy(m.last, pgBackendsCPUIn(other))
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// stop ends the sampling and returns the CPU the backends used since the
// meter started (a backend that started in between counts whole).
func (m *pgCPUMeter) stop() time.Duration {
	close(m.quit)
	<-m.done
	var d time.Duration
	for pid, t := range m.last {
		d += t - m.first[pid]
	}
	return d
}
