// Package cache is the demo's retained store: everything Put into it stays
// live until the cache reaches its byte cap, so the heap grows steadily.
package cache

import (
	"fmt"
	"hash/crc32"
	"sync"
)

// Record is one cached entry. Payload is what keeps the heap growing.
type Record struct {
	Key     string
	Payload []byte
	Tags    map[string]string
}

// Cache keeps Records in insertion order and evicts the oldest ones once
// the total payload size passes maxBytes (0 means never evict).
type Cache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    []string
	byKey    map[string]*Record
}

// New returns an empty cache capped at maxBytes of payload.
func New(maxBytes int64) *Cache {
	return &Cache{maxBytes: maxBytes, byKey: make(map[string]*Record)}
}

// Put stores a fresh record of size bytes under key and returns it.
func (c *Cache) Put(key string, size int) *Record {
	rec := newRecord(key, size)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[key]; ok {
		c.bytes -= int64(len(old.Payload))
	} else {
		c.order = append(c.order, key)
	}
	c.byKey[key] = rec
	c.bytes += int64(len(rec.Payload))
	c.evictLocked()
	return rec
}

// Get returns the record stored under key, or nil.
func (c *Cache) Get(key string) *Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[key]
}

// Stats reports the number of records and payload bytes held.
func (c *Cache) Stats() (records int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.bytes
}

func (c *Cache) evictLocked() {
	if c.maxBytes <= 0 {
		return
	}
	for c.bytes > c.maxBytes && len(c.order) > 0 {
		key := c.order[0]
		c.order = c.order[1:]
		if rec, ok := c.byKey[key]; ok {
			c.bytes -= int64(len(rec.Payload))
			delete(c.byKey, key)
		}
	}
}

func newRecord(key string, size int) *Record {
	payload := make([]byte, size)
	fill(payload, key)
	return &Record{
		Key:     key,
		Payload: payload,
		Tags:    map[string]string{"class": Classify(key), "origin": "demo"},
	}
}

func fill(b []byte, key string) {
	seed := crc32.ChecksumIEEE([]byte(key))
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
}

// classTable is built by init(): package initialisation work that allocates
// (about 4k map entries and their strings), visible to init tracing.
var classTable map[uint32]string

func init() {
	classTable = buildClassTable(4096)
}

func buildClassTable(n int) map[uint32]string {
	t := make(map[uint32]string, n)
	for i := 0; i < n; i++ {
		t[uint32(i)] = fmt.Sprintf("class-%03d", i%97)
	}
	return t
}

// Classify maps a key to one of the classes built at init time.
func Classify(key string) string {
	return classTable[crc32.ChecksumIEEE([]byte(key))%uint32(len(classTable))]
}
