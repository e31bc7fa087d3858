package snapstream

// window buffers the slots of pages that have overflow, from the first slot of the oldest
// such page still open up to the current slot. Every buffered page spans at most
// maxSpan bytes, so the window never holds more than that (twice that in capacity, as the
// front is only reclaimed once it is half of the buffer).
type window struct {
	maxSpan uint64
	buf     []byte
	head    int    // buf[head:] holds slots from first on
	first   uint64 // slot at buf[head]
	spans   []openSpan
}

// openSpan is a buffered page still waiting for its last slot.
type openSpan struct{ first, last uint64 }

// add appends the current slot if a page is open.
func (w *window) add(b []byte) {
	if len(w.spans) > 0 {
		w.appendSlot(b)
	}
}

// appendSlot appends b, doubling the buffer when full but not beyond what the window can
// need (append grows large slices by a quarter only, which would allocate several times
// the window in total).
func (w *window) appendSlot(b []byte) {
	if n := len(w.buf) + len(b); n > cap(w.buf) {
		limit := 2*int(min(w.maxSpan, 1<<40)) + len(b)
		grown := make([]byte, len(w.buf), max(n, min(2*n, limit)))
		copy(grown, w.buf)
		w.buf = grown
	}
	w.buf = append(w.buf, b...)
}

// open starts buffering the page whose slots are [first, last]; b is slot first, already
// added if another page is open.
func (w *window) open(first, last uint64, b []byte) {
	if len(w.spans) == 0 {
		w.buf = w.buf[:0]
		w.appendSlot(b)
		w.head = 0
		w.first = first
	}
	w.spans = append(w.spans, openSpan{first: first, last: last})
}

// closeAt inspects the pages whose last slot is s and drops the slots no open page needs.
func (w *window) closeAt(in *Inspector, s uint64) {
	if len(w.spans) == 0 {
		return
	}
	ps := int(in.meta.pageSize)
	kept := w.spans[:0]
	for _, sp := range w.spans {
		if sp.last != s {
			kept = append(kept, sp)
			continue
		}
		lo := w.head + int(sp.first-w.first)*ps
		hi := w.head + int(sp.last+1-w.first)*ps
		in.inspectPage(sp.first, w.buf[lo:hi])
	}
	w.spans = kept
	if len(w.spans) == 0 {
		w.buf, w.head = w.buf[:0], 0
		return
	}
	w.head += int(w.spans[0].first-w.first) * ps
	w.first = w.spans[0].first
	if w.head > len(w.buf)/2 {
		n := copy(w.buf, w.buf[w.head:])
		w.buf, w.head = w.buf[:n], 0
	}
}

// captureStep says which bytes of a large page a capture waits for.
type captureStep uint8

const (
	stepBranchChild captureStep = iota // the last element's child pgid
	stepLeafElement                    // the last leaf element
	stepLeafKey                        // the last leaf element's key
)

// capture reads the few bytes Finish needs from a page too large for the window. Offsets
// are stream offsets.
type capture struct {
	next uint64 // offset of the next wanted byte: at + have
	at   uint64 // offset of the wanted bytes
	end  uint64 // end of the page's span
	pgid uint64
	step captureStep
	want uint8
	have uint8
	buf  [markedRevisionKeyLen]byte
}

// captureQueue is a min-heap of captures ordered by the next byte they want.
type captureQueue []capture

func (q *captureQueue) push(c capture) {
	*q = append(*q, c)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].next <= h[i].next {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *captureQueue) pop() capture {
	h := *q
	last := len(h) - 1
	c := h[0]
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		least := i
		for _, child := range []int{2*i + 1, 2*i + 2} {
			if child < len(h) && h[child].next < h[least].next {
				least = child
			}
		}
		if least == i {
			break
		}
		h[least], h[i] = h[i], h[least]
		i = least
	}
	*q = h
	return c
}

// startCapture queues the capture for the page with header h that starts at stream offset
// at and spans span bytes. It applies the bounds inspectPage applies, so that both paths
// agree on every page.
func (in *Inspector) startCapture(pgid uint64, h pageHeader, at, span uint64) {
	if h.count == 0 {
		if h.flags == leafPageFlag {
			in.summaries[pgid] = makeSummary(kindLeafUnscanned, 0)
		}
		return
	}
	c := capture{pgid: pgid, end: at + span}
	last := at + elementAt(int(h.count)-1)
	switch h.flags {
	case branchPageFlag:
		c.step, c.at, c.want = stepBranchChild, last+8, 8
	case leafPageFlag:
		c.step, c.at, c.want = stepLeafElement, last, pageElementSize
	default:
		return
	}
	if c.at+uint64(c.want) > c.end {
		return
	}
	c.next = c.at
	in.captures.push(c)
}

// feed gives the slot held in b, starting at stream offset at, to the captures waiting
// for its bytes.
func (q *captureQueue) feed(in *Inspector, at uint64, b []byte) {
	end := at + uint64(len(b))
	for len(*q) > 0 && (*q)[0].next < end {
		c := q.pop()
		n := copy(c.buf[c.have:c.want], b[c.next-at:])
		c.have += uint8(n)
		c.next += uint64(n)
		if c.have < c.want {
			q.push(c)
			continue
		}
		if c, more := in.completeCapture(c); more {
			q.push(c)
		}
	}
}

// completeCapture records what a finished capture read; more is true when it must go on
// to read the key of a leaf element.
func (in *Inspector) completeCapture(c capture) (capture, bool) {
	switch c.step {
	case stepBranchChild:
		in.setBranch(c.pgid, le.Uint64(c.buf[:8]))
	case stepLeafElement:
		pos := uint64(le.Uint32(c.buf[4:]))
		if pos < pageElementSize {
			return c, false // as leafElement: a key never overlaps its element
		}
		keyAt := c.at + pos
		keySize := uint64(le.Uint32(c.buf[8:]))
		valueEnd := keyAt + keySize + uint64(le.Uint32(c.buf[12:]))
		if valueEnd > c.end {
			return c, false
		}
		if keySize != revisionKeyLen && keySize != markedRevisionKeyLen {
			in.summaries[c.pgid] = makeSummary(kindLeafUnscanned, notRevision)
			return c, false
		}
		c.step, c.at, c.next, c.want, c.have = stepLeafKey, keyAt, keyAt, uint8(keySize), 0
		return c, true
	case stepLeafKey:
		in.summaries[c.pgid] = makeSummary(kindLeafUnscanned, lastKeySummary(c.buf[:c.want]))
	}
	return c, false
}
