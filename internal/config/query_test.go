package config

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

func hashForTest(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hashPrefix + hex.EncodeToString(sum[:])
}

func TestFindAPIKeys(t *testing.T) {
	const plain, hashed = "legacy-plaintext-key", "the-hashed-key-0123456789"
	stored := hashForTest(hashed)
	upper := hashPrefix + strings.ToUpper(hashForTest("upper-key")[len(hashPrefix):])
	c := &Config{APIKeys: map[string]*APIKey{plain: {}, stored: {}, upper: {}}}
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{plain, []string{plain}},
		{hashed, []string{stored}},
		{stored, []string{stored}},
		{"upper-key", []string{upper}},
		{KeyFingerprint(stored), []string{stored}},
		{strings.ToUpper(KeyFingerprint(plain)), []string{plain}},
		{KeyFingerprint(upper), []string{upper}},
		{"fp:0123", nil}, // too short to name a key
		{"unknown", nil},
		{"", nil},
	} {
		if got := c.FindAPIKeys(tc.ref, hashForTest); !slices.Equal(got, tc.want) {
			t.Errorf("FindAPIKeys(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestQueriesByName(t *testing.T) {
	c := &Config{
		MCPConfigs: map[string]*MCPConfig{"c1": {Name: "a"}, "c2": {Name: "a"}, "c3": {Name: "b"}},
		Projects:   map[string]*Project{"p1": {Name: "p", MCPConfigID: "c1", Users: []string{"u1"}}, "p2": {Name: "q", MCPConfigID: "c1"}},
		Users:      map[string]*User{"u1": {Email: "Ann@Example.com"}},
		APIKeys:    map[string]*APIKey{"k1": {ProjectID: "p1", UserID: "u1"}, "k2": {ProjectID: "p2", UserID: "u1"}},
	}
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"configs named a", c.MCPConfigIDsByName("a"), []string{"c1", "c2"}},
		{"projects named q", c.ProjectIDsByName("q"), []string{"p2"}},
		{"users by email, any case", c.UserIDsByEmail("ann@example.COM"), []string{"u1"}},
		{"projects using c1", c.ProjectsUsing("c1"), []string{"p1", "p2"}},
		{"projects of u1", c.ProjectsOf("u1"), []string{"p1"}},
		{"keys of u1 in p2", c.APIKeysOf("u1", "p2"), []string{"k2"}},
		{"keys of u1", c.APIKeysOf("u1", ""), []string{"k1", "k2"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// FuzzFindAPIKeys checks that every entry found really is named by the
// reference: the entry itself, the hash of the key, or a fingerprint prefix.
func FuzzFindAPIKeys(f *testing.F) {
	f.Add("key-one", "key-two", "fp:00000000")
	f.Add("k", hashForTest("k"), "k")
	f.Fuzz(func(t *testing.T, a, b, ref string) {
		c := &Config{APIKeys: map[string]*APIKey{a: {}, hashForTest(b): {}}}
		for _, e := range c.FindAPIKeys(ref, hashForTest) {
			if _, ok := c.APIKeys[e]; !ok {
				t.Fatalf("found %q, which is not an entry", e)
			}
			fp, isFP := strings.CutPrefix(strings.ToLower(ref), "fp:")
			if e != ref && strings.ToLower(e) != hashForTest(ref) && !(isFP && strings.HasPrefix(strings.ToLower(digestOf(e)), fp)) {
				t.Fatalf("ref %q found unrelated entry %q", ref, e)
			}
		}
	})
}
