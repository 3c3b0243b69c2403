package authn

import (
	"testing"
	"time"

	"secure-mcp-gateway/internal/config"
)

func TestRevocations(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name            string
		doc             string
		revoke, restore []string
		wantChanged     bool
		want            map[string]bool
		wantErr         bool
	}{
		{name: "empty document, one revoked", revoke: []string{"sha256:aa"}, wantChanged: true, want: map[string]bool{"sha256:aa": true}},
		{name: "restore forgets", doc: `{"keys":{"sha256:aa":"x","sha256:bb":"y"}}`, restore: []string{"sha256:aa"}, wantChanged: true, want: map[string]bool{"sha256:bb": true}},
		{name: "revoking again changes nothing", doc: `{"keys":{"sha256:aa":"x"}}`, revoke: []string{"sha256:aa"}, want: map[string]bool{"sha256:aa": true}},
		{name: "unreadable", doc: `{"keys":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRevocations([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("decode: %v", err)
			}
			if err != nil {
				return
			}
			if got := r.Apply(tt.revoke, tt.restore, now); got != tt.wantChanged {
				t.Errorf("changed = %v", got)
			}
			if len(r.Keys) != len(tt.want) {
				t.Errorf("keys = %v, want %v", r.Keys, tt.want)
			}
			for h := range tt.want {
				if _, ok := r.Revoked(h); !ok {
					t.Errorf("%s not revoked", h)
				}
			}
		})
	}
	var none *Revocations
	if _, ok := none.Revoked("sha256:aa"); ok {
		t.Error("a nil list revoked a key")
	}
}

func TestLiveKeys(t *testing.T) {
	live, stored, _ := NewKey()
	off, offStored, _ := NewKey()
	c := &config.Config{APIKeys: map[string]*config.APIKey{
		stored:        {ProjectID: "p", UserID: "u"},
		offStored:     {ProjectID: "p", UserID: "u", Disabled: true},
		"plain-key-1": {ProjectID: "p", UserID: "u"},
		"sha256:zz":   {ProjectID: "p", UserID: "u"}, // malformed
		"nil-record":  nil,
	}}
	got := LiveKeys(c)
	want := map[string]bool{HashKey(live.Reveal()): true, HashKey("plain-key-1"): true}
	if len(got) != len(want) || !got[HashKey(live.Reveal())] || !got[HashKey("plain-key-1")] || got[HashKey(off.Reveal())] {
		t.Fatalf("LiveKeys = %v, want %v", got, want)
	}
}
