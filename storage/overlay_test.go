package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// TestIterateInUpdateTxnMatchesModel checks the overlay merge: inside an
// update transaction, Iterate (forward, reverse, from a start key, keys
// only) sees exactly the committed state with the transaction's own sets
// and deletes applied, against a map model, over random operations.
func TestIterateInUpdateTxnMatchesModel(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	key := func() []byte { return []byte(fmt.Sprintf("p%d/k%03d", rng.IntN(2), rng.IntN(300))) }
	for round := 0; round < 30; round++ {
		txn := db.NewTxn(true)
		pending := map[string]string{}
		for k, v := range model {
			pending[k] = v
		}
		for op := 0; op < 200; op++ {
			k := key()
			switch rng.IntN(4) {
			case 0, 1:
				v := fmt.Sprintf("v%d", rng.IntN(1000))
				if err := txn.Set(k, []byte(v)); err != nil {
					t.Fatal(err)
				}
				pending[string(k)] = v
			case 2:
				if err := txn.Delete(k); err != nil {
					t.Fatal(err)
				}
				delete(pending, string(k))
			case 3:
				prefix := []byte(fmt.Sprintf("p%d/", rng.IntN(2)))
				o := IterOptions{Reverse: rng.IntN(2) == 0, KeysOnly: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					o.Start = append(append([]byte{}, prefix...), []byte(fmt.Sprintf("k%03d", rng.IntN(300)))...)
				}
				limit := 1 + rng.IntN(400)
				var got []string
				err := txn.Iterate(prefix, o, func(k, v []byte) (bool, error) {
					if o.KeysOnly {
						if v != nil {
							t.Fatalf("KeysOnly returned a value")
						}
						got = append(got, string(k))
					} else {
						got = append(got, string(k)+"="+string(v))
					}
					return len(got) < limit, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				var ks []string
				for k := range pending {
					if bytes.HasPrefix([]byte(k), prefix) {
						ks = append(ks, k)
					}
				}
				sort.Strings(ks)
				if o.Reverse {
					sort.Sort(sort.Reverse(sort.StringSlice(ks)))
				}
				for _, k := range ks {
					if o.Start != nil && (!o.Reverse && k < string(o.Start) || o.Reverse && k > string(o.Start)) {
						continue
					}
					if len(want) == limit {
						break
					}
					if o.KeysOnly {
						want = append(want, k)
					} else {
						want = append(want, k+"="+pending[k])
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("round %d op %d: Iterate(%s, %+v)\n got %v\nwant %v", round, op, prefix, o, got, want)
				}
			}
		}
		if rng.IntN(3) > 0 {
			if err := txn.Commit(); err != nil {
				t.Fatal(err)
			}
			model = pending
		}
		txn.Discard()
	}
}

// TestDeletePrefixInChunks: DeletePrefix removes every key under the
// prefix across many chunks (each chunk resumes after the previous one's
// last key), keeps the keys around the prefix, and a second call on an
// empty prefix is a no-op.
func TestDeletePrefixInChunks(t *testing.T) {
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(k string) {
		if err := db.Update(func(txn *Txn) error { return txn.Set([]byte(k), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	put("c")
	for i := range 100 {
		put(fmt.Sprintf("b/%03d", i))
	}
	for range 2 {
		if err := db.DeletePrefix([]byte("b/"), 7); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	if err := db.View(func(txn *Txn) error {
		return txn.Iterate(nil, IterOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			left = append(left, string(k))
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(left) != "[a b c]" {
		t.Fatalf("after DeletePrefix(b/): keys %v, want [a b c]", left)
	}
}
