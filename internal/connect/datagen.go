package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// datagen is a DatagenSource: it writes generated records to kafka.topic
// in Confluent's datagen quickstart shapes, as JSON, keyed by the
// quickstart's key field, waiting a random time below max.interval
// between records. Its position (the next iteration, which is ORDERS'
// orderid) is stored once Kafka has acknowledged the record, so ids go on
// across restarts (a record acknowledged but not yet stored is written
// again: at least once).
type datagen struct {
	w   *worker
	cfg control.DatagenConfig
}

// datagenOffset is the stored position of a DatagenSource.
type datagenOffset struct {
	Iteration int64 `json:"iteration"`
}

func (d *datagen) run(ctx context.Context, kafka []kgo.Opt) error {
	var off datagenOffset
	if s := d.w.offset(); s != "" {
		if err := json.Unmarshal([]byte(s), &off); err != nil {
			return fmt.Errorf("read the stored position %q: %w", s, err)
		}
	}
	cl, err := openKafka(ctx, kafka, kgo.DefaultProduceTopic(d.cfg.Topic), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, d.cfg.Topic); err != nil {
		return err
	}
	d.w.ok(ctx)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(off.Iteration)))
	for {
		if d.cfg.Iterations > 0 && off.Iteration >= d.cfg.Iterations {
			<-ctx.Done() // done: idle, RUNNING, as Connect's datagen is
			return nil
		}
		if d.cfg.MaxInterval > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Duration(rng.Int64N(int64(d.cfg.MaxInterval)))):
			}
		}
		key, value := generate(d.cfg.Quickstart, off.Iteration, rng)
		d.w.counted(1, 0, 0)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: value}).FirstErr(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("write to topic %s: %w", d.cfg.Topic, err)
		}
		off.Iteration++
		b, _ := json.Marshal(off)
		d.w.setOffset(string(b))
		d.w.counted(0, 1, 0)
		d.w.ok(ctx)
	}
}

// Order is a record of the ORDERS quickstart.
type Order struct {
	OrderTime  int64   `json:"ordertime"`
	OrderID    int64   `json:"orderid"`
	ItemID     string  `json:"itemid"`
	OrderUnits float64 `json:"orderunits"`
	Address    struct {
		City    string `json:"city"`
		State   string `json:"state"`
		ZipCode int64  `json:"zipcode"`
	} `json:"address"`
}

// User is a record of the USERS quickstart.
type User struct {
	RegisterTime int64  `json:"registertime"`
	UserID       string `json:"userid"`
	RegionID     string `json:"regionid"`
	Gender       string `json:"gender"`
}

// The quickstarts' time range (Unix milliseconds).
const (
	minTime = 1487715775521
	maxTime = 1519273364600
)

// generate returns the key and JSON value of record i of quickstart q.
func generate(q string, i int64, rng *rand.Rand) (key, value []byte) {
	digits := func(n int) string { // up to n digits 1-9
		s := ""
		for range rng.IntN(n + 1) {
			s += strconv.Itoa(1 + rng.IntN(9))
		}
		return s
	}
	switch q {
	case control.QuickstartUsers:
		u := User{RegisterTime: minTime + rng.Int64N(maxTime-minTime), UserID: "User_" + digits(1),
			RegionID: "Region_" + digits(1), Gender: []string{"MALE", "FEMALE", "OTHER"}[rng.IntN(3)]}
		value, _ = json.Marshal(u)
		return []byte(u.UserID), value
	default:
		o := Order{OrderTime: minTime + rng.Int64N(maxTime-minTime), OrderID: i,
			ItemID: "Item_" + strconv.Itoa(1+rng.IntN(9)), OrderUnits: 0.1 + rng.Float64()*9.9}
		for range rng.IntN(3) { // Item_[1-9][0-9]{0,2}
			o.ItemID += strconv.Itoa(rng.IntN(10))
		}
		o.Address.City, o.Address.State, o.Address.ZipCode = "City_"+digits(2), "State_"+digits(2), 10000+rng.Int64N(90000)
		value, _ = json.Marshal(o)
		return []byte(strconv.FormatInt(i, 10)), value
	}
}
