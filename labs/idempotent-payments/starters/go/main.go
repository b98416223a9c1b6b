// {{lab_title}}: your service. It answers GET {{health}} and nothing else yet.
//
// labctl starts it with PORT and the URLs of its dependencies in the environment (see README.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var (
	port        = envOr("PORT", "8080")
	databaseURL = os.Getenv("DATABASE_URL") // postgresql://...: payments and keys
	bankURL     = os.Getenv("BANK_URL")     // http://...: POST $BANK_URL/charges charges a card
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("{{health}}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Start here: stage `{{first_stage}}`, {{first_stage_title}}.
		// The request's JSON body: json.NewDecoder(r.Body).Decode(&v).
		answer(w, http.StatusNotFound, map[string]string{"error": "no route for " + r.Method + " " + r.URL.Path})
	})
	server := &http.Server{Addr: "0.0.0.0:" + port, Handler: logged(mux)}

	// SIGTERM is how labctl stops the service: stop accepting, finish what was accepted, exit 0.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()

	log.Printf("listening on %s", server.Addr)
	if err := server.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func answer(w http.ResponseWriter, status int, body any) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// logged prints a line per request: labctl shows these next to a failing check.
func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %d %.1fms", r.Method, r.URL.Path, rec.status, float64(time.Since(started).Microseconds())/1000)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
