# syntax=docker/dockerfile:1
# The Deployer operator image: docker build -t ghcr.io/deployer-dev/deployer:0.1.0 .

# ---- build: compile TypeScript to dist/
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and the compiled code only
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no install script runs in the final image; it also keeps the "node" package
# (which pins Node for npm scripts in development) from downloading a second Node binary.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# The CRD is read at run time to validate Canaries (src/api/validate.ts looks for ../../../crds from dist/src/api).
COPY crds ./crds
# depctl, for kubectl exec into the operator pod.
COPY bin ./bin
USER 65532:65532
# A young generation of at most 2 × 8 MiB: by default V8 sizes it from the machine's memory (up to
# 2 × 64 MiB), which a burst of watch events fills and the idle operator then keeps committed.
ENV NODE_OPTIONS=--max-semi-space-size=8
# Two glibc malloc arenas instead of one per thread: the operator's native memory (TLS, HTTP
# buffers) is allocated on the main thread; more arenas only keep freed memory resident.
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["node", "dist/src/main.js"]
