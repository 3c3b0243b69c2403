package cache

import (
	"testing"
	"time"
)

func TestMemo(t *testing.T) {
	m, err := NewMemo[string](time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Get("k"); ok {
		t.Fatal("hit in an empty memo")
	}
	m.Set("k", "v")
	m.c.Wait() // ristretto sets are asynchronous
	if v, ok := m.Get("k"); !ok || v != "v" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	m.Clear()
	if _, ok := m.Get("k"); ok {
		t.Fatal("hit after Clear")
	}
}
