package storetest

import (
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pgBackendsCPU reads the CPU time used so far by each PostgreSQL backend
// serving the test database (EnvPostgres), by pid, from
// /proc: it works when the server runs on this machine, and gives nil
// otherwise. The benchmark database should be one no one else uses.
func pgBackendsCPU() map[string]time.Duration { return pgBackendsCPUIn(map[string]bool{}) }

// pgBackendsCPUIn is pgBackendsCPU remembering in other the processes
// are not backends of the database, so that sampling often stays cheap.
func pgBackendsCPUIn(other map[string]bool) map[string]time.Duration {
	u, err := url.Parse(os.Getenv(EnvPostgres))
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
		pid := filepath.Base(filepath.Dir(p))
		if t, ok := ProcCPU(pid); ok {
			out[pid] = t
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pgBackendsCPUOf reads the CPU time of the given backends (by pid) that
// are still running.
func pgBackendsCPUOf(pids []string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, pid := range pids {
		if t, ok := ProcCPU(pid); ok {
			out[pid] = t
		}
	}
	return out
}

// ProcCPU reads a process's user and system time from /proc (by pid;
// false when it has ended or there is no /proc).
func ProcCPU(pid string) (time.Duration, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, true // clock ticks of 1/100 s
}

// PGCPUMeter samples the backends' CPU every 200 ms until stop, so that
// backends that end during the measurement (a pool closing idle
// connections) are counted up to their last sample.
type PGCPUMeter struct {
	mu          sync.Mutex // guards last
	first, last map[string]time.Duration
	quit, done  chan struct{}
}

// MeterPGBackends starts a meter, nil when the backends cannot be read.
func MeterPGBackends() *PGCPUMeter {
	first := pgBackendsCPU()
	if first == nil {
		return nil
	}
	m := &PGCPUMeter{first: first, last: maps.Clone(first), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		other := map[string]bool{}
		for i := 0; ; i++ {
			var now map[string]time.Duration
			m.mu.Lock()
			pids := slices.Collect(maps.Keys(m.last))
			m.mu.Unlock()
			if i%10 == 0 {
				// Listing /proc (every process of a busy machine) once
				// every 2 s: listing it every sample cost the benchmark
				// a fifth of its own CPU.
				now = pgBackendsCPUIn(other)
			} else {
				now = pgBackendsCPUOf(pids)
			}
			m.mu.Lock()
			maps.Copy(m.last, now)
			m.mu.Unlock()
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// Stop ends the sampling and returns the CPU the backends used since the
// meter started (a backend that started in between counts whole).
func (m *PGCPUMeter) Stop() time.Duration {
	close(m.quit)
	<-m.done
	return m.Used()
}

// Used is the CPU the backends used from the meter's start to its last
// sample (at most 200 ms old), while it goes on sampling.
func (m *PGCPUMeter) Used() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d time.Duration
	for pid, t := range m.last {
		d += t - m.first[pid]
	}
	return d
}
