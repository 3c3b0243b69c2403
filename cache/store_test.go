package cache

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

func server() *config.Server {
	return &config.Server{
		Name: "files",
		Config: config.ServerConfig{
			Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-filesystem", "/tmp"},
			Env: map[string]string{"API_TOKEN": "s3cr3t-token-value"},
		},
	}
}

func TestKeyChangesWithEveryDefiningField(t *testing.T) {
	base := Key("cfg-1", server())
	if len(base) != 64 {
		t.Fatalf("key %q is not 64 hex digits", base)
	}
	if again := Key("cfg-1", server()); again != base {
		t.Fatalf("key is not deterministic: %s vs %s", base, again)
	}
	prefix := "x_"
	tests := []struct {
		name     string
		configID string
		mutate   func(*config.Server)
	}{
		{"config id", "cfg-2", func(*config.Server) {}},
		{"name", "cfg-1", func(s *config.Server) { s.Name = "files2" }},
		{"command", "cfg-1", func(s *config.Server) { s.Config.Command = "node" }},
		{"args", "cfg-1", func(s *config.Server) { s.Config.Args = append(s.Config.Args, "/home") }},
		{"env value", "cfg-1", func(s *config.Server) { s.Config.Env["API_TOKEN"] = "other" }},
		{"env name", "cfg-1", func(s *config.Server) { s.Config.Env["DEBUG"] = "1" }},
		{"url", "cfg-1", func(s *config.Server) { s.Config.URL = "https://example.com/mcp" }},
		{"header value", "cfg-1", func(s *config.Server) { s.Config.Headers = map[string]string{"Authorization": "Bearer x"} }},
		{"allow-list", "cfg-1", func(s *config.Server) { s.Tools = map[string]json.RawMessage{"read": json.RawMessage(`{}`)} }},
		{"prefix", "cfg-1", func(s *config.Server) { s.ToolPrefix = &prefix }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := server()
			tt.mutate(s)
			if k := Key(tt.configID, s); k == base {
				t.Errorf("changing the %s left the key unchanged", tt.name)
			}
		})
	}
	// A description is not part of the definition.
	s := server()
	s.Description = "changed"
	if Key("cfg-1", s) != base {
		t.Error("the description changed the key")
	}
}

const toolsJSON = `[{"name":"read","inputSchema":{"type":"object"}},{"name":"write","inputSchema":{"type":"object"}}]`

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStoreTiersAndStaleness(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := &Options{Dir: filepath.Join(dir, DefaultDirName), ToolTTL: time.Hour, MaxStale: 30 * time.Minute, Now: c.now}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := server()
	if _, _, ok := s.LoadTools(ctx, "cfg", srv); ok {
		t.Fatal("empty store answered")
	}
	s.StoreTools(ctx, "cfg", srv, json.RawMessage(toolsJSON))

	// The file is private and holds no secret.
	path := filepath.Join(opts.Dir, Key("cfg", srv)+entrySuffix)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("entry mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "s3cr3t") {
		t.Errorf("entry file contains the env secret: %s", b)
	}

	// A second store over the same directory (a new process) hits on disk.
	s2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	steps := []struct {
		at        time.Duration
		ok, stale bool
	}{
		{0, true, false},
		{59 * time.Minute, true, false},
		{61 * time.Minute, true, true},
		{89 * time.Minute, true, true},
		{91 * time.Minute, false, false}, // past TTL+MaxStale: never served
	}
	start := c.t
	for _, st := range steps {
		c.t = start.Add(st.at)
		tools, stale, ok := s2.LoadTools(ctx, "cfg", srv)
		if ok != st.ok || stale != st.stale {
			t.Errorf("at +%s: ok=%v stale=%v, want ok=%v stale=%v", st.at, ok, stale, st.ok, st.stale)
		}
		if ok && string(tools) != toolsJSON {
			t.Errorf("at +%s: tools = %s", st.at, tools)
		}
	}
	if e := s2.Inspect(ctx, Key("cfg", srv)); len(e) == 0 || e[0].Usable {
		t.Errorf("Inspect past MaxStale = %+v, want an unusable entry", e)
	}

	// A changed definition misses.
	c.t = start
	srv2 := server()
	srv2.Config.Args = []string{"other"}
	if _, _, ok := s2.LoadTools(ctx, "cfg", srv2); ok {
		t.Error("a changed server entry hit the cache")
	}
}

func TestClearByServer(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	s, err := New(&Options{Dir: t.TempDir(), Redis: &RedisOptions{Addr: mr.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := server(), server()
	b.Name = "other"
	s.StoreTools(ctx, "cfg", a, json.RawMessage(toolsJSON))
	s.StoreTools(ctx, "cfg", b, json.RawMessage(toolsJSON))
	if got := len(mr.Keys()); got != 2 {
		t.Fatalf("redis holds %d keys, want 2", got)
	}
	n, err := s.Clear(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // one file, one Redis key
		t.Errorf("cleared %d entries, want 2", n)
	}
	if _, _, ok := s.LoadTools(ctx, "cfg", b); ok {
		t.Error("cleared server still cached")
	}
	if _, _, ok := s.LoadTools(ctx, "cfg", a); !ok {
		t.Error("clearing one server cleared another")
	}
	if _, err := s.Clear(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.LoadTools(ctx, "cfg", a); ok {
		t.Error("clear all left an entry")
	}
	if got := len(mr.Keys()); got != 0 {
		t.Errorf("redis holds %d keys after clear, want 0", got)
	}
}

func TestRedisSharesAcrossDirectories(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	mr.RequireAuth("right-password")
	ro := &RedisOptions{Addr: mr.Addr(), Password: secret.String("right-password")}
	one, err := New(&Options{Dir: t.TempDir(), Redis: ro})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	one.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
	for _, k := range mr.Keys() {
		v, _ := mr.Get(k)
		if !strings.HasPrefix(k, DefaultRedisPrefix) || strings.Contains(k+v, "s3cr3t") || strings.Contains(k+v, "right-password") {
			t.Errorf("redis entry %q=%q is not namespaced or holds a secret", k, v)
		}
	}

	dir := t.TempDir()
	two, err := New(&Options{Dir: dir, Redis: ro})
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	tools, _, ok := two.LoadTools(ctx, "cfg", server())
	if !ok || string(tools) != toolsJSON {
		t.Fatalf("second machine: ok=%v tools=%s", ok, tools)
	}
	// The Redis hit was copied to the local disk.
	var tiers []Tier
	for _, f := range two.Inspect(ctx, Key("cfg", server())) {
		tiers = append(tiers, f.Tier)
	}
	if len(tiers) < 2 || tiers[len(tiers)-2] != TierDisk || tiers[len(tiers)-1] != TierRedis {
		t.Errorf("Inspect tiers = %v, want a disk and a redis copy", tiers)
	}
}

// logLines collects log output.
type logLines struct{ strings.Builder }

func TestRedisFailureWarnsOnceAndFallsBack(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(*miniredis.Miniredis) *RedisOptions
	}{
		{"wrong password", func(mr *miniredis.Miniredis) *RedisOptions {
			mr.RequireAuth("right-password")
			return &RedisOptions{Addr: mr.Addr(), Password: secret.String("wrong-password"), Retry: time.Nanosecond}
		}},
		{"down", func(mr *miniredis.Miniredis) *RedisOptions {
			addr := mr.Addr()
			mr.Close()
			return &RedisOptions{Addr: addr, Retry: time.Nanosecond}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr := miniredis.RunT(t)
			var buf logLines
			log := zerolog.New(&buf)
			s, err := New(&Options{Dir: t.TempDir(), Redis: tt.setup(mr), Logger: &log})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 3 {
				s.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
				if _, _, ok := s.LoadTools(ctx, "cfg", server()); !ok {
					t.Fatal("local tiers did not answer while Redis failed")
				}
			}
			s.mem.Clear()
			if _, _, ok := s.LoadTools(ctx, "cfg", server()); !ok {
				t.Fatal("disk tier did not answer while Redis failed")
			}
			out := buf.String()
			if n := strings.Count(out, "Redis unavailable"); n != 1 {
				t.Errorf("warned %d times, want once:\n%s", n, out)
			}
			if strings.Contains(out, "password\"") || strings.Contains(out, "wrong-password") || strings.Contains(out, "right-password") {
				t.Errorf("log holds the password:\n%s", out)
			}
		})
	}
}

func TestMemoryTierServesWithoutDisk(t *testing.T) {
	ctx := context.Background()
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
	s.mem.Wait() // ristretto sets are asynchronous
	if _, _, ok := s.LoadTools(ctx, "cfg", server()); !ok {
		t.Error("in-process tier missed right after a set")
	}
	if got := s.Tiers(); len(got) != 1 || got[0] != TierMemory {
		t.Errorf("Tiers = %v", got)
	}
}

// BenchmarkLoadToolsDisk measures a lookup that a new gateway process makes:
// an empty in-process tier, a hit in the persistent store.
func BenchmarkLoadToolsDisk(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := New(&Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.StoreTools(ctx, "cfg", server(), json.RawMessage(toolsJSON))
	for b.Loop() {
		s.mem.Clear()
		if _, _, ok := s.LoadTools(ctx, "cfg", server()); !ok {
			b.Fatal("miss")
		}
	}
}

// FuzzDiskEntry feeds arbitrary bytes to the persistent store's decoder:
// a corrupt entry file is a miss, never a panic or a served entry with
// unusable times.
func FuzzDiskEntry(f *testing.F) {
	f.Add([]byte(`{"server":"a","config_id":"c","tools":[],"stored_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T04:00:00Z"}`))
	f.Add([]byte(`{"tools":`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		s, err := New(&Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		key := Key("cfg", server())
		if err := os.WriteFile(filepath.Join(dir, key+entrySuffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
		e, _, ok := s.Get(context.Background(), key)
		if ok && (e == nil || !s.usable(e, time.Now())) {
			t.Fatalf("served an unusable entry %+v", e)
		}
	})
}
