//go:build race

package main

// raceEnabled makes the end-to-end tests build the gateway binary with the
// race detector when the tests themselves run with -race.
const raceEnabled = true
