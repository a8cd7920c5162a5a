"""The HTTP front ends, one module per protocol over the one dataplane (as KServe's
protocol/rest/ splits them): health, v2 (Open Inference Protocol, JSON and binary), v1 (TF Serving
REST), detect (an image in, boxes out); pages (the web page, /metrics) and errors (the typed error
-> status table applied to every response). app.py includes them in that order."""
