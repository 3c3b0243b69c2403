package serve

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReserveEvictsLeastRecentlyUsedIdle checks the session caps' rule: at
// a cap the least recently used sessions with no request in flight make
// room (of the same key for the per-key cap, of any key for the global
// caps); when none can, the new session is refused and nothing changes.
func TestReserveEvictsLeastRecentlyUsedIdle(t *testing.T) {
	t0 := time.Now()
	type sess struct {
		id, key string
		age     int // minutes since last use
		busy    bool
		procs   int
	}
	tests := []struct {
		name                       string
		maxPer, maxTotal, maxProcs int
		have                       []sess
		key                        string
		procs                      int
		want                       []string // evicted ids, in order
		wantReasons                []string
		refused                    string
	}{
		{name: "room", maxPer: 2, maxTotal: 10, maxProcs: 10,
			have: []sess{{"a1", "A", 5, false, 1}}, key: "A", procs: 1},
		{name: "per key: the key's LRU idle goes", maxPer: 2, maxTotal: 10, maxProcs: 10,
			have: []sess{{"a1", "A", 5, false, 1}, {"a2", "A", 9, false, 1}, {"b1", "B", 20, false, 1}}, key: "A", procs: 1,
			want: []string{"a2"}, wantReasons: []string{"per_key"}},
		{name: "per key: busy sessions are kept", maxPer: 2, maxTotal: 10, maxProcs: 10,
			have: []sess{{"a1", "A", 5, false, 1}, {"a2", "A", 9, true, 1}}, key: "A", procs: 1,
			want: []string{"a1"}, wantReasons: []string{"per_key"}},
		{name: "per key: all busy is refused", maxPer: 2, maxTotal: 10, maxProcs: 10,
			have: []sess{{"a1", "A", 5, true, 1}, {"a2", "A", 9, true, 1}}, key: "A", procs: 1,
			refused: "this key already has 2 open sessions, each with a request in flight"},
		{name: "sessions: any key's LRU idle goes", maxPer: 5, maxTotal: 3, maxProcs: 10,
			have: []sess{{"a1", "A", 5, false, 1}, {"b1", "B", 30, false, 1}, {"b2", "B", 40, true, 1}}, key: "C", procs: 1,
			want: []string{"b1"}, wantReasons: []string{"sessions"}},
		{name: "processes: as many as needed", maxPer: 5, maxTotal: 10, maxProcs: 5,
			have: []sess{{"a1", "A", 5, false, 2}, {"b1", "B", 30, false, 0}, {"b2", "B", 40, false, 1}, {"c1", "C", 50, false, 1}}, key: "C", procs: 3,
			want: []string{"c1", "b2"}, wantReasons: []string{"upstream_processes", "upstream_processes"}},
		{name: "processes: more than the cap alone", maxPer: 5, maxTotal: 10, maxProcs: 2, key: "A", procs: 3,
			refused: "more than the gateway's --max-upstream-processes 2"},
		{name: "sessions: all busy is refused, nothing evicted", maxPer: 1, maxTotal: 2, maxProcs: 10,
			have: []sess{{"a1", "A", 5, true, 1}, {"b1", "B", 30, true, 1}}, key: "C", procs: 1,
			refused: "the gateway already has 2 open sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &httpHandler{maxPer: tt.maxPer, maxTotal: tt.maxTotal, maxProcs: tt.maxProcs, metrics: NewMetrics(),
				sessions: map[string]*session{}, perKey: map[string]int{}}
			for _, s := range tt.have {
				busy := 0
				if s.busy {
					busy = 1
				}
				h.sessions[s.id] = &session{id: s.id, keyHash: s.key, used: t0.Add(-time.Duration(s.age) * time.Minute), busy: busy, procs: s.procs}
				h.perKey[s.key]++
				h.total++
				h.procs += s.procs
			}
			total, procs, keyN := h.total, h.procs, h.perKey[tt.key]
			victims, refusal := h.reserve(tt.key, tt.procs)
			if tt.refused != "" {
				if !strings.Contains(refusal, tt.refused) || len(victims) != 0 {
					t.Fatalf("reserve = %v, %q; want refused with %q", victims, refusal, tt.refused)
				}
				if h.total != total || h.procs != procs || h.perKey[tt.key] != keyN || len(h.sessions) != len(tt.have) {
					t.Errorf("a refusal changed the books")
				}
				return
			}
			if refusal != "" {
				t.Fatalf("refused: %s", refusal)
			}
			var got, reasons []string
			freed := 0
			for _, v := range victims {
				got, reasons = append(got, v.s.id), append(reasons, v.reason)
				freed += v.s.procs
				if _, ok := h.sessions[v.s.id]; ok {
					t.Errorf("evicted %s is still in the books", v.s.id)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("evicted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if h.total != total-len(victims)+1 || h.procs != procs-freed+tt.procs {
				t.Errorf("books: total %d procs %d", h.total, h.procs)
			}
		})
	}
}
