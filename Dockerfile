# tollgate's image: built in one stage, run from a small one holding only the compiled output and
# the production dependencies, as a numeric non-root user (so `runAsNonRoot` can verify it).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY policies ./policies
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `node` user of the base image; numeric, so the kubelet can tell it is not root.
USER 1000:1000
EXPOSE 8443
ENTRYPOINT ["node", "dist/src/cli/bin.js"]
CMD ["serve"]
