"""How requests reach the app: granian's RSGI interface, our two hot paths
answered natively on it (``fast``), and everything else handed to the ASGI
(Starlette) app through a small bridge (``bridge``).

Why RSGI: on this kind of machine a bare ASGI 307 under granian runs at about
0.29 x nginx's static 307 and under uvicorn at 0.14 x, while a bare RSGI 307
runs at 0.41 x (bench/analysis.md). Issue 12's target for the authenticated
307 is 0.25 x, so only RSGI leaves room for the work the redirect must do.
"""
