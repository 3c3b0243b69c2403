package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

const (
	legacyKey   = "Hn1kq0bUq3Vx4rOeZ8m2dYt6wP9sLc5aJf7gE2hK4iM1nB3v"
	hashedKey   = "q7Lw2Xz0bT9mN4vR8sK1pF6yH3dJ5gC0aE2iU7oW9xY"
	disabledKey = "DisabledDisabledDisabledDisabledDisabledDisabled"
	orphanKey   = "OrphanOrphanOrphanOrphanOrphanOrphanOrphanOrphan"
	noUserKey   = "NoUserNoUserNoUserNoUserNoUserNoUserNoUserNoUser"
	unassigned  = "UnassignedUnassignedUnassignedUnassignedUnassign"
	danglingKey = "DanglingDanglingDanglingDanglingDanglingDangling"
	nullKey     = "NullRecordNullRecordNullRecordNullRecordNullReco"
	noProjKey   = "NoProjectIDNoProjectIDNoProjectIDNoProjectIDNoPr"
)

func testConfig() *config.Config {
	mc := &config.MCPConfig{Name: "default", Servers: []*config.Server{{Name: "echo", Config: config.ServerConfig{Command: "echo"}}}}
	return &config.Config{
		MCPConfigs: map[string]*config.MCPConfig{"mc1": mc},
		Projects: map[string]*config.Project{
			"p1":   {Name: "Project One", MCPConfigID: "mc1", Users: []string{"u1"}},
			"p2":   {Name: "Unassigned", MCPConfigID: ""},
			"p3":   {Name: "Dangling", MCPConfigID: "gone"},
			"pOth": {Name: "Other", MCPConfigID: "mc1"},
		},
		Users: map[string]*config.User{
			"u1": {Email: "one@example.com"},
			"u2": {Email: "two@example.com"},
		},
		APIKeys: map[string]*config.APIKey{
			legacyKey:          {ProjectID: "p1", UserID: "u1"},
			HashKey(hashedKey): {ProjectID: "p1", UserID: "u2"},
			disabledKey:        {ProjectID: "p1", UserID: "u1", Disabled: true, DisabledAt: "2025-01-01T00:00:00"},
			orphanKey:          {ProjectID: "nope", UserID: "u1"},
			noUserKey:          {ProjectID: "p1", UserID: "ghost"},
			unassigned:         {ProjectID: "p2", UserID: "u1"},
			danglingKey:        {ProjectID: "p3", UserID: "u1"},
			nullKey:            nil,
			noProjKey:          {UserID: "u1"},
			"sha256:zz":        {ProjectID: "p1", UserID: "u1"},
		},
	}
}

func TestAuthenticate(t *testing.T) {
	cfg := testConfig()
	mc := cfg.MCPConfigs["mc1"]
	tests := []struct {
		name    string
		cred    Credentials
		want    *Principal
		wantErr error
	}{
		{"legacy plaintext key", Credentials{Key: legacyKey}, &Principal{
			KeyFingerprint: secret.Fingerprint(legacyKey), ProjectID: "p1", ProjectName: "Project One",
			UserID: "u1", Email: "one@example.com", MCPConfigID: "mc1", MCPConfig: mc,
		}, nil},
		{"hashed key", Credentials{Key: hashedKey}, &Principal{
			KeyFingerprint: secret.Fingerprint(hashedKey), ProjectID: "p1", ProjectName: "Project One",
			UserID: "u2", Email: "two@example.com", MCPConfigID: "mc1", MCPConfig: mc,
		}, nil},
		{"matching ids supplied", Credentials{Key: legacyKey, ProjectID: "p1", UserID: "u1"}, &Principal{
			KeyFingerprint: secret.Fingerprint(legacyKey), ProjectID: "p1", ProjectName: "Project One",
			UserID: "u1", Email: "one@example.com", MCPConfigID: "mc1", MCPConfig: mc,
		}, nil},
		{"missing key", Credentials{}, nil, ErrMissingKey},
		{"unknown key", Credentials{Key: "not-a-key-not-a-key-not-a-key"}, nil, ErrUnknownKey},
		{"stored digest is not a key", Credentials{Key: secret.String(HashKey(hashedKey))}, nil, ErrUnknownKey},
		{"malformed hashed entry", Credentials{Key: "sha256:zz"}, nil, ErrUnknownKey},
		{"disabled key", Credentials{Key: disabledKey}, nil, ErrDisabledKey},
		{"project mismatch", Credentials{Key: legacyKey, ProjectID: "pOth"}, nil, ErrMismatch},
		{"user mismatch", Credentials{Key: legacyKey, UserID: "u2"}, nil, ErrMismatch},
		{"project missing", Credentials{Key: orphanKey}, nil, ErrIncomplete},
		{"user missing", Credentials{Key: noUserKey}, nil, ErrIncomplete},
		{"project unassigned", Credentials{Key: unassigned}, nil, ErrIncomplete},
		{"mcp config missing", Credentials{Key: danglingKey}, nil, ErrIncomplete},
		{"null record", Credentials{Key: nullKey}, nil, ErrIncomplete},
		{"record without project", Credentials{Key: noProjKey}, nil, ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Authenticate(cfg, tt.cred)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authenticate err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != nil {
					t.Errorf("principal %+v returned with error", got)
				}
				if k := tt.cred.Key.Reveal(); k != "" && strings.Contains(err.Error(), k) {
					t.Errorf("error %q contains the key", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(config.MCPConfig{}, config.Server{}, config.ServerConfig{})); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
			if got.MCPConfig != mc {
				t.Error("MCPConfig is not the config's own pointer")
			}
		})
	}
}

func TestAuthenticateNilConfig(t *testing.T) {
	if _, err := Authenticate(nil, Credentials{Key: legacyKey}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("err = %v", err)
	}
}

func TestAuthenticatePrefersHashedRecord(t *testing.T) {
	cfg := testConfig()
	cfg.APIKeys[hashedKey] = &config.APIKey{ProjectID: "p1", UserID: "u1", Disabled: true}
	for range 20 { // map order varies between iterations
		p, err := Authenticate(cfg, Credentials{Key: hashedKey})
		if err != nil || p.UserID != "u2" {
			t.Fatalf("Authenticate = %+v, %v; want the hashed record", p, err)
		}
	}
}

func TestAuthenticateUpperCaseDigest(t *testing.T) {
	cfg := testConfig()
	const k = "upper-case-digest-key-upper-case-digest-key"
	cfg.APIKeys["sha256:"+strings.ToUpper(HashKey(k)[len("sha256:"):])] = &config.APIKey{ProjectID: "p1", UserID: "u1"}
	if _, err := Authenticate(cfg, Credentials{Key: k}); err != nil {
		t.Errorf("Authenticate = %v", err)
	}
}

func TestErrorsNeverContainKey(t *testing.T) {
	cfg := testConfig()
	for entry := range cfg.APIKeys {
		for _, cred := range []Credentials{
			{Key: secret.String(entry)},
			{Key: secret.String(entry), ProjectID: "x"},
			{Key: secret.String(entry), UserID: "x"},
			{Key: secret.String(entry + "x")},
		} {
			_, err := Authenticate(cfg, cred)
			if err == nil {
				continue
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)} {
				if strings.Contains(s, cred.Key.Reveal()) {
					t.Errorf("error reveals key: %s", s)
				}
			}
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{EnvKey: "  k123 \n", EnvProjectID: " p ", EnvUserID: "u\t"}
	got := FromEnv(func(k string) string { return env[k] })
	want := Credentials{Key: "k123", ProjectID: "p", UserID: "u"}
	if got != want {
		t.Errorf("FromEnv = %#v, want %#v", got, want)
	}
	if got := FromEnv(func(string) string { return "" }); got != (Credentials{}) {
		t.Errorf("FromEnv(empty) = %#v", got)
	}
}

func TestFromHeader(t *testing.T) {
	tests := []struct {
		name string
		h    map[string]string
		want Credentials
	}{
		{"apikey", map[string]string{"apikey": " k1 ", "project_id": "p", "user_id": "u"}, Credentials{Key: "k1", ProjectID: "p", UserID: "u"}},
		{"apikey wins", map[string]string{"apikey": "k1", "ENKRYPT_GATEWAY_KEY": "k2", "Authorization": "Bearer k3"}, Credentials{Key: "k1"}},
		{"env-named header", map[string]string{"ENKRYPT_GATEWAY_KEY": "k2", "Authorization": "Bearer k3"}, Credentials{Key: "k2"}},
		{"bearer", map[string]string{"Authorization": "bearer  k3 "}, Credentials{Key: "k3"}},
		{"basic ignored", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, Credentials{}},
		{"nothing", map[string]string{}, Credentials{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			if got := FromHeader(h); got != tt.want {
				t.Errorf("FromHeader = %#v, want %#v", got, tt.want)
			}
		})
	}
	// Headers as received off the wire, not canonicalised by Set.
	raw := http.Header{"Apikey": {"wire"}, "Project_id": {"p"}}
	if got := FromHeader(raw); got.Key != "wire" || got.ProjectID != "p" {
		t.Errorf("FromHeader(raw) = %#v", got)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		k, stored, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		s := k.Reveal()
		if len(s) != 43 || strings.ContainsAny(s, "+/=") {
			t.Errorf("key %q is not 43 base64url characters", s)
		}
		if stored != HashKey(s) || !strings.HasPrefix(stored, "sha256:") || len(stored) != 7+64 {
			t.Errorf("stored = %q", stored)
		}
		if fmt.Sprint(k) == s {
			t.Error("key prints itself")
		}
		if seen[s] {
			t.Fatal("duplicate key")
		}
		seen[s] = true
	}
	k, stored, _ := NewKey()
	cfg := testConfig()
	cfg.APIKeys[stored] = &config.APIKey{ProjectID: "p1", UserID: "u1"}
	if _, err := Authenticate(cfg, Credentials{Key: k}); err != nil {
		t.Errorf("new key does not authenticate: %v", err)
	}
}

func TestHashKey(t *testing.T) {
	if got, want := HashKey("secret"), "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"; got != want {
		t.Errorf("HashKey = %q, want %q", got, want)
	}
}

func FuzzAuthenticate(f *testing.F) {
	f.Add(legacyKey, "", "")
	f.Add(hashedKey, "p1", "u2")
	f.Add("sha256:zz", "", "")
	f.Fuzz(func(t *testing.T, key, project, user string) {
		p, err := Authenticate(testConfig(), Credentials{Key: secret.String(key), ProjectID: project, UserID: user})
		if (p == nil) == (err == nil) {
			t.Fatalf("principal %v with error %v", p, err)
		}
		// Supplied IDs are echoed, so a key hidden inside one does not count.
		if err != nil && len(key) >= 32 && !strings.Contains(project+user, key) && strings.Contains(err.Error(), key) {
			t.Fatalf("error reveals key: %v", err)
		}
	})
}

// TestFingerprintMatchesConfigPaths checks that the fingerprint in a
// Principal is the one config.Validate prints for the same key, stored
// either way, so an operator can match log lines to config problems.
func TestFingerprintMatchesConfigPaths(t *testing.T) {
	for _, stored := range []string{legacyKey, HashKey(legacyKey)} {
		cfg := &config.Config{APIKeys: map[string]*config.APIKey{stored: {ProjectID: "none", UserID: "none"}}}
		err := cfg.Validate()
		want := "apikeys[fp:" + secret.Fingerprint(legacyKey) + "]"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a path %s", err, want)
		}
	}
}
